import Contracts
import DoorCrypto
import Foundation
import Logging
import MQTT
import Metrics
import ServiceKit
import ServiceLifecycle

/// Takes signed jobs from the device's areas (`leitstand/door/{area}/jobs`, never-send-retained, with the retain
/// flag kept as published so that a retained job sent live is recognised too), pulses the relay only for a job
/// that passes every check of the contract, and hands a signed confirm to ``ConfirmDelivery`` once the pulse has
/// ended. Anything else is refused, logged and counted, never pulsed.
struct JobExecutor: Service, CustomStringConvertible {
    let client: MQTTClient
    let settings: DeviceSettings
    let relay: RelayController
    let seen: SeenJobs
    let confirms: ConfirmDelivery
    let logger: Logger
    private let skewGauge = Gauge(label: "leitstand_device_clock_skew_seconds")

    init(client: MQTTClient, settings: DeviceSettings, relay: RelayController, seen: SeenJobs, confirms: ConfirmDelivery, logger: Logger) {
        self.client = client
        self.settings = settings
        self.relay = relay
        self.seen = seen
        self.confirms = confirms
        self.logger = logger
    }

    var description: String { "JobExecutor(\(settings))" }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for area in settings.areas {
                let jobs = try await client.subscribe(Topic.doorJobs(area: area), qos: .atLeastOnce, options: [.neverSendRetained, .retainAsPublished])
                group.addTask {
                    // A handful at once (pulses are one at a time anyway): a flood waits in the broker.
                    await jobs.cancelOnGracefulShutdown().forEach(atMost: 8) { message in await handle(message, area: area) }
                }
            }
        }
        await relay.release()
    }

    enum Refusal: String, Sendable {
        case retained, malformed, wrongArea = "wrong_area", otherDevice = "other_device"
        case badSignature = "bad_signature", expired, duplicate
        /// The job's window ends before its pulse would: its confirm could only come too late.
        case expiresDuringPulse = "expires_during_pulse"
        /// The job arrived after its member's request had run out (and the member was told the open failed).
        case deliveredLate = "delivered_late"
    }

    /// The job if it may be pulsed, else why not. Recording it as seen is the last check, so a refused job never
    /// takes an id.
    func check(_ message: MQTTMessage, area: String, now: Date = Date()) -> Result<DoorJob, RefusalError> {
        if message.retain { return .failure(RefusalError(.retained)) }
        guard let job = try? ContractCoding.decode(DoorJob.self, from: message.payload) else { return .failure(RefusalError(.malformed)) }
        guard job.area == area, settings.areas.contains(job.area) else { return .failure(RefusalError(.wrongArea, job)) }
        guard job.deviceId == settings.deviceID else { return .failure(RefusalError(.otherDevice, job)) }
        guard job.isVerifiable(with: settings.secrets) else {
            return .failure(RefusalError(.badSignature, job))
        }
        guard job.expiresAt > now else { return .failure(RefusalError(.expired, job)) }
        if let deliverBy = job.deliverBy, now > deliverBy { return .failure(RefusalError(.deliveredLate, job)) }
        let pulse = Double(min(max(job.pulseMs, 1), DeviceSettings.maximumPulseMs)) / 1_000
        guard job.expiresAt.timeIntervalSince(now) > pulse else { return .failure(RefusalError(.expiresDuringPulse, job)) }
        do {
            guard try seen.insert(job.jobId, expiresAt: job.expiresAt) else { return .failure(RefusalError(.duplicate, job)) }
        } catch {
            // Without the durable record a redelivery could pulse twice: refuse rather than risk it.
            logger.error("cannot record the job as seen", metadata: ["job.id": "\(job.jobId)", "error": "\(error)"])
            return .failure(RefusalError(.duplicate, job))
        }
        return .success(job)
    }

    struct RefusalError: Error {
        var reason: Refusal
        var job: DoorJob?
        init(_ reason: Refusal, _ job: DoorJob? = nil) {
            self.reason = reason
            self.job = job
        }
    }

    private func handle(_ message: MQTTMessage, area: String) async {
        let job: DoorJob
        switch check(message, area: area) {
        case .failure(let refusal):
            Counter(label: "leitstand_device_jobs_refused_total", dimensions: [("reason", refusal.reason.rawValue)]).increment()
            let level: Logger.Level = refusal.reason == .otherDevice ? .debug : .warning
            logger.log(level: level, "door job refused", metadata: ["reason": "\(refusal.reason.rawValue)", "job.id": "\(refusal.job?.jobId ?? "-")", "area": "\(area)"])
            return
        case .success(let accepted):
            job = accepted
        }
        warnAboutSkew(job)
        logger.info("door job accepted, pulsing", metadata: ["job.id": "\(job.jobId)", "area": "\(area)", "pulseMs": "\(job.pulseMs)"])
        let outcome = await relay.pulse(jobID: job.jobId, milliseconds: job.pulseMs)
        let confirm: DoorConfirm
        switch outcome {
        case .pulsed(let endedAt), .joined(let endedAt):
            confirm = DoorConfirm(jobId: job.jobId, deviceId: settings.deviceID, nonce: job.nonce, result: .executed, code: "OK", message: "relay pulsed", pulsedAt: endedAt)
            Counter(label: "leitstand_device_pulses_total").increment()
        case .failed(let reason):
            logger.error("relay pulse failed", metadata: ["job.id": "\(job.jobId)", "error": "\(reason)"])
            confirm = DoorConfirm(jobId: job.jobId, deviceId: settings.deviceID, nonce: job.nonce, result: .failed, code: "GPIO_ERROR", message: reason, pulsedAt: nil)
            Counter(label: "leitstand_device_pulse_failures_total").increment()
        }
        do {
            try confirms.deliver(confirm.signed(with: settings.secret), area: job.area)
        } catch {
            logger.error("door confirm could not be kept for delivery", metadata: ["job.id": "\(job.jobId)", "error": "\(error)"])
        }
    }

    private func warnAboutSkew(_ job: DoorJob) {
        guard let issuedAt = job.issuedAt else { return }
        let skew = Date().timeIntervalSince(issuedAt)
        skewGauge.record(skew)
        if abs(skew) > Double(DeviceSettings.maximumClockSkew.components.seconds) {
            logger.warning("this device's clock differs from the scheduler's; check NTP", metadata: ["skewSeconds": "\(String(format: "%.1f", skew))"])
        }
    }
}
