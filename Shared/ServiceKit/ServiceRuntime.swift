import Contracts
import Database
import Foundation
import Hummingbird
import Logging
import MQTT
import Metrics
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals

/// What every Leitstand service is made of: configuration from the environment, logging, metrics, the broker
/// link with its status topic, the database with its migrations and audit log, `/health` and `/metrics`, the
/// restart command, and graceful shutdown on SIGTERM. A service's `main` bootstraps it, builds its router and
/// its own services, and calls ``run(router:services:)``.
public struct ServiceRuntime: Sendable {
    public let identity: ServiceIdentity
    public let logger: Logger
    public let mqtt: MQTTClient
    public let database: PostgresClient?
    public let audit: AuditLog?
    public let exit: ProcessExit
    public let registry: PrometheusCollectorRegistry
    public let httpHost: String
    public let httpPort: Int
    public let httpTimeouts: HTTPServerTimeouts
    public let httpConnectionLimit: HTTPConnectionLimit
    let metricsToken: String?
    let migration: SchemaMigrationService?

    /// Reads the common configuration and then, with the same reader, the service's own `settings`.
    /// Every problem is printed on its own line (`<service>: LEITSTAND_X: what is wrong`) and the process exits
    /// with ``ProcessExit/configurationError`` before anything starts.
    public static func bootstrap<Settings>(
        _ identity: ServiceIdentity,
        usesDatabase: Bool,
        defaultHTTPPort: Int,
        session: MQTTConfiguration.Session = .clean,
        settings: (inout ConfigurationReader) -> Settings
    ) -> (ServiceRuntime, Settings) {
        var reader = ConfigurationReader()
        let logging = reader.logging()
        var mqttConfiguration = reader.mqtt(clientID: identity.name)
        // The broker names every client after its account (`use_username_as_clientid`, deploy/mosquitto), so that
        // no account can take over another's client id; the reply topic must use that same name.
        if let username = mqttConfiguration?.username { mqttConfiguration?.clientID = username }
        let databaseConfiguration = usesDatabase ? reader.database() : nil
        let httpHost = reader.optional("LEITSTAND_HTTP_HOST") ?? "0.0.0.0"
        let httpPort = reader.port("LEITSTAND_HTTP_PORT", default: defaultHTTPPort)
        let httpTimeouts = HTTPServerTimeouts.read(&reader)
        let httpConnectionLimit = HTTPConnectionLimit.read(&reader)
        let metricsToken = reader.optional("LEITSTAND_METRICS_TOKEN")
        let serviceSettings = settings(&reader)
        do {
            try reader.validate()
        } catch {
            for problem in error.problems {
                FileHandle.standardError.write(Data("\(identity.name): \(problem)\n".utf8))
            }
            Foundation.exit(ProcessExit.configurationError)
        }
        guard var mqttConfiguration else { preconditionFailure("validated above") }

        LogFormat.bootstrap(format: logging.format, level: logging.level)
        var logger = Logger(label: identity.name)
        logger[metadataKey: "service"] = "\(identity.name)"
        let registry = PrometheusCollectorRegistry()
        var metricsFactory = PrometheusMetricsFactory(registry: registry)
        // Round trips here take fractions of a millisecond and an fsync a few: the default buckets start at 5 ms.
        metricsFactory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5), .seconds(5), .seconds(10),
        ]
        metricsFactory.defaultValueHistogramBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000]
        MetricsSystem.bootstrap(metricsFactory)

        mqttConfiguration.session = session
        mqttConfiguration.responseTopic = Topic.replies(clientID: mqttConfiguration.clientID)
        // A responder answers only under the reply prefix: a request naming a door's job topic as its response
        // topic must not make a service publish a "job" there.
        mqttConfiguration.replyTopicFilter = Topic.anyReplies
        MQTTConnectionService.announce(identity, in: &mqttConfiguration)
        let mqtt: MQTTClient
        do {
            mqtt = try MQTTClient(configuration: mqttConfiguration, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("\(identity.name): LEITSTAND_MQTT_URL: \(error)\n".utf8))
            Foundation.exit(ProcessExit.configurationError)
        }
        let database = databaseConfiguration.map { PostgresClient(configuration: $0, backgroundLogger: logger) }
        let runtime = ServiceRuntime(
            identity: identity,
            logger: logger,
            mqtt: mqtt,
            database: database,
            audit: database.map { AuditLog(client: $0, logger: logger) },
            exit: ProcessExit(),
            registry: registry,
            httpHost: httpHost,
            httpPort: httpPort,
            httpTimeouts: httpTimeouts,
            httpConnectionLimit: httpConnectionLimit,
            metricsToken: metricsToken,
            migration: database.map { SchemaMigrationService(client: $0, logger: logger) }
        )
        return (runtime, serviceSettings)
    }

    /// Whether the database is reachable and its schema current (false for a service without one).
    public var isDatabaseReady: Bool { migration?.isMigrated ?? false }

    /// Where this service's audit entries go: its database, or, without one, relayed to the api-gateway.
    public var auditTrail: AuditTrail {
        audit.map { .database($0, service: identity.name) } ?? .relayed(mqtt)
    }

    /// The links `/health` checks: the broker, and the database (reachable and migrated) where there is one.
    public var healthChecks: [HealthCheck] {
        // A live round trip, not the connection flag: a paused broker keeps the TCP connection (and the flag) for
        // a whole keep-alive while it answers nothing.
        var checks = [HealthCheck(name: "broker") { [mqtt] in (try? await mqtt.ping(timeout: .seconds(1))) != nil }]
        if let database, let migration {
            checks.append(HealthCheck(name: "database") {
                guard migration.isMigrated else { return false }
                return (try? await database.query("SELECT 1")) != nil
            })
        }
        return checks
    }

    /// A router that already serves `/health` (the common links plus `extraChecks`) and `/metrics`.
    public func makeRouter(extraChecks: [HealthCheck] = []) -> Router<ServiceRequestContext> {
        // HEAD answers what GET would, without the body (a monitor's cheap probe), instead of 405.
        let router = Router(context: ServiceRequestContext.self, options: .autoGenerateHeadEndpoints)
        // One line per request is an access log: at debug, so that ingest at thousands of requests a second does
        // not spend its CPU on logging (`LEITSTAND_LOG_LEVEL=debug` turns it on; errors are logged at their level).
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: MetricsMiddleware())
        OperationsEndpoints(identity: identity, checks: healthChecks + extraChecks, registry: registry, metricsToken: metricsToken)
            .register(on: router)
        return router
    }

    /// Runs everything until SIGTERM/SIGINT or a restart command, shuts down in reverse order (HTTP drains first,
    /// the broker link publishes `offline` and disconnects, the database goes last), and exits the process.
    public func run(router: Router<ServiceRequestContext>, services: [any Service] = []) async -> Never {
        // After every route: it wraps only the not-found responder, and needs the routes to tell 405 from 404.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        if httpConnectionLimit.maximum < httpConnectionLimit.configured {
            logger.warning("LEITSTAND_HTTP_MAX_CONNECTIONS lowered to half the file limit: raise LimitNOFILE (ulimit -n) to hold more", metadata: [
                "maxConnections": "\(httpConnectionLimit.maximum)", "configured": "\(httpConnectionLimit.configured)",
                "fileLimit": "\(httpConnectionLimit.fileLimit.map(String.init) ?? "unlimited")",
            ])
        }
        let connections = HTTPConnectionTable(maximum: httpConnectionLimit.maximum, logger: logger)
        var channel = httpTimeouts.channelConfiguration(logger: logger)
        let timeoutHandlers = channel.additionalChannelHandlers
        // Per connection, after the codec: JSON for what the parser refuses (first, so that it sees the parser's
        // errors before anything else), the cap on open connections, then the timeouts' handlers.
        channel.additionalChannelHandlers = { [logger] in
            [MalformedRequestHandler(logger: logger), HTTPConnectionCapHandler(table: connections)] + timeoutHandlers()
        }
        let application = Application(
            router: router,
            server: .http1(configuration: channel),
            configuration: .init(address: .hostname(httpHost, port: httpPort), serverName: identity.name),
            logger: logger
        )
        var group: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let database, let migration {
            group.append(.init(service: database))
            group.append(.init(service: migration))
        }
        group.append(.init(service: MQTTConnectionService(client: mqtt, identity: identity, exit: exit, logger: logger)))
        group += services.map { .init(service: $0) }
        group.append(.init(service: application))
        group.append(.init(
            service: RestartCommandService(client: mqtt, identity: identity, audit: auditTrail, exit: exit, logger: logger),
            successTerminationBehavior: .gracefullyShutdownGroup
        ))
        logger.info("starting", metadata: ["version": "\(identity.version)", "http": "\(httpHost):\(httpPort)"])
        var configuration = ServiceGroupConfiguration(services: group, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // `docker stop` sends SIGKILL after 10 s: drain within that, then cancel what still hangs.
        configuration.maximumGracefulShutdownDuration = .seconds(8)
        configuration.maximumCancellationDuration = .seconds(1)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            logger.critical("service stopped with an error", metadata: ["error": "\(error)"])
            Foundation.exit(1)
        }
        logger.info("stopped", metadata: ["exitCode": "\(exit.code)", "reason": "\(exit.reason ?? "signal")"])
        Foundation.exit(exit.code)
    }
}
