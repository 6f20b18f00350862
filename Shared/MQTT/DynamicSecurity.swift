import Foundation

/// Mosquitto's dynamic-security plugin, administered over MQTT (`$CONTROL/dynamic-security/v1`). Leitstand uses it
/// for door devices, whose rights depend on their areas: unlike an `acl_file`, the plugin refuses a forbidden
/// SUBSCRIBE (reason 0x87), so a device cannot even ask for another area's jobs. Services stay in the password
/// and ACL files; the plugin defers to those for every user it does not know.
public struct DynamicSecurity: Sendable {
    public static let controlTopic = "$CONTROL/dynamic-security/v1"
    public static let responseTopic = "$CONTROL/dynamic-security/v1/response"

    /// One command of the plugin's JSON API; unset fields are left out.
    public struct Command: Codable, Sendable, Equatable {
        public var command: String
        public var username: String?
        public var password: String?
        public var rolename: String?
        public var acltype: String?
        public var topic: String?
        public var priority: Int?
        public var allow: Bool?
        public var correlationData: String?

        public init(
            _ command: String, username: String? = nil, password: String? = nil, rolename: String? = nil,
            acltype: String? = nil, topic: String? = nil, priority: Int? = nil, allow: Bool? = nil
        ) {
            self.command = command
            self.username = username
            self.password = password
            self.rolename = rolename
            self.acltype = acltype
            self.topic = topic
            self.priority = priority
            self.allow = allow
        }
    }

    struct Commands: Codable { var commands: [Command] }
    struct Responses: Codable {
        struct Response: Codable {
            var command: String
            var error: String?
            var correlationData: String?
        }
        var responses: [Response]
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var command: String
        public var error: String
        public var description: String { "the broker refused \(command): \(error)" }
    }

    let client: MQTTClient

    public init(client: MQTTClient) { self.client = client }

    /// Sends `commands` in one message and waits for the plugin's answers. Errors named in `tolerated` (e.g.
    /// "Client not found" when deleting something that is already gone) are ignored; any other error throws.
    public func run(_ commands: [Command], tolerating tolerated: Set<String> = [], timeout: Duration = .seconds(5)) async throws {
        let tag = UUID().uuidString
        var tagged = commands
        for index in tagged.indices { tagged[index].correlationData = "\(tag)#\(index)" }
        let responses = try await client.subscribe(Self.responseTopic)
        defer { responses.cancel() }
        try await client.publish(Self.controlTopic, payload: try JSONEncoder().encode(Commands(commands: tagged)))
        let expected = tagged.count
        try await withTimeout(timeout, operation: "dynamic-security commands") {
            var answered = 0
            for await message in responses {
                guard let decoded = try? JSONDecoder().decode(Responses.self, from: message.payload) else { continue }
                for response in decoded.responses where response.correlationData?.hasPrefix(tag) == true {
                    answered += 1
                    if let error = response.error, !tolerated.contains(error) { throw Failure(command: response.command, error: error) }
                }
                if answered >= expected { return }
            }
            throw MQTTError.shutDown
        }
    }

    /// What a door device may do, as one role `device-{id}`: read its areas' jobs, its own commands and its own
    /// replies (receipts for its confirms and audit entries), write its areas' confirms, its own status (also its
    /// last will) and its own audit entries; everything else under any topic is denied.
    public static func deviceCommands(
        deviceID: String, password: String, areas: [String], jobs: (String) -> String, confirm: (String) -> String,
        status: String, commands: String, replies: String, audit: String
    ) -> [Command] {
        let role = "device-\(deviceID)"
        var list: [Command] = removeDevice(deviceID) + [
            Command("createRole", rolename: role),
            Command("createClient", username: deviceID, password: password),
        ]
        func allow(_ type: String, _ topic: String) { list.append(Command("addRoleACL", rolename: role, acltype: type, topic: topic, priority: 0, allow: true)) }
        for area in areas {
            allow("subscribePattern", jobs(area))
            allow("publishClientReceive", jobs(area))
            allow("publishClientSend", confirm(area))
        }
        for topic in [commands, replies] {
            allow("subscribePattern", topic)
            allow("publishClientReceive", topic)
        }
        allow("publishClientSend", status)
        allow("publishClientSend", audit)
        for type in ["subscribePattern", "publishClientReceive", "publishClientSend"] {
            list.append(Command("addRoleACL", rolename: role, acltype: type, topic: "#", priority: -1, allow: false))
        }
        list.append(Command("addClientRole", username: deviceID, rolename: role, priority: 0))
        return list
    }

    /// Deletes a device's broker user and role (the broker closes a connection it still has).
    public static func removeDevice(_ deviceID: String) -> [Command] {
        [Command("deleteClient", username: deviceID), Command("deleteRole", rolename: "device-\(deviceID)")]
    }

    /// The errors the plugin gives when something to delete is not there.
    public static let notFound: Set<String> = ["Client not found", "Role not found"]
}
