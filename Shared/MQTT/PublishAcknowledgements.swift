import Foundation

/// Waiters for PUBACKs, kept under a lock of their own so that the network thread delivering acknowledgements
/// does not contend with the rest of the client's state. A waiter waits for a group of message ids: one for a
/// single publish, many for a batch, which then costs one task wake-up instead of one per message.
///
/// The lock is *not* held while libmosquitto queues a PUBLISH (that call writes to a socket), so an
/// acknowledgement can overtake its waiter: it is parked in `early` until the waiter arrives. QoS 0 publishes are
/// acknowledged by libmosquitto too, but nobody waits for them: their ids go to `ignored`, whichever comes first.
/// Continuations are never resumed here, only handed to `Resumptions` to resume after the lock is released.
struct PublishAcknowledgements {
    private struct Group {
        var pending: Set<Int32>
        var continuation: CheckedContinuation<MQTTDelivery, any Error>
        var firstRefusal: Int32?
        var noMatchingSubscribers = false
    }

    private var groups: [UInt64: Group] = [:]
    private var groupOfMessage: [Int32: UInt64] = [:]
    private var early: [Int32: Int32] = [:]
    private var ignored: Set<Int32> = []
    private var requests: [Int32: (correlation: Data, topic: String)] = [:]

    /// Called on the network thread with the PUBACK's reason code. Returns the correlation data of a request
    /// whose publish the broker refused or had nobody to deliver to, with the error that request fails with.
    mutating func acknowledged(messageID: Int32, reasonCode: Int32, _ resumptions: inout Resumptions) -> (correlation: Data, error: MQTTError)? {
        if ignored.remove(messageID) != nil { return nil }
        if let request = requests.removeValue(forKey: messageID) {
            guard let error = Self.requestError(reasonCode, topic: request.topic) else { return nil }
            return (request.correlation, error)
        }
        guard let token = groupOfMessage.removeValue(forKey: messageID) else {
            early[messageID] = reasonCode
            return nil
        }
        settle(messageID, reasonCode: reasonCode, in: token, &resumptions)
        return nil
    }

    /// A request's publish: its reply is the acknowledgement that counts, but a PUBACK saying "refused" or
    /// "no matching subscribers" means no reply will come. Returns the request's error if that PUBACK came first.
    mutating func watch(requestMessageID messageID: Int32, correlation: Data, topic: String) -> MQTTError? {
        if let reasonCode = early.removeValue(forKey: messageID) {
            return Self.requestError(reasonCode, topic: topic)
        }
        requests[messageID] = (correlation, topic)
        return nil
    }

    /// 0x10 is "no matching subscribers"; 0x80 and above are refusals; anything else lets the request wait on.
    private static func requestError(_ reasonCode: Int32, topic: String) -> MQTTError? {
        if reasonCode == 0x10 { return .noSubscribers(topic: topic) }
        if reasonCode >= 0x80 { return .refused(operation: "request on \(topic)", reasonCode: Int(reasonCode)) }
        return nil
    }

    /// Waits for the acknowledgements of QoS 1/2 publishes; resumes once all came, failing with the first refusal,
    /// and with ``MQTTDelivery/noMatchingSubscribers`` if any of them had no subscriber.
    mutating func wait(
        messageIDs: [Int32],
        token: UInt64,
        continuation: CheckedContinuation<MQTTDelivery, any Error>,
        _ resumptions: inout Resumptions
    ) {
        groups[token] = Group(pending: Set(messageIDs), continuation: continuation)
        for messageID in messageIDs {
            if let reasonCode = early.removeValue(forKey: messageID) {
                settle(messageID, reasonCode: reasonCode, in: token, &resumptions)
            } else {
                groupOfMessage[messageID] = token
            }
        }
    }

    /// QoS 0 publishes (or ones whose waiter gave up): their acknowledgements, if any, are dropped.
    mutating func ignore(messageIDs: some Sequence<Int32>) {
        for messageID in messageIDs where early.removeValue(forKey: messageID) == nil {
            ignored.insert(messageID)
        }
    }

    mutating func cancel(token: UInt64, _ resumptions: inout Resumptions) {
        guard let group = groups.removeValue(forKey: token) else { return }
        for messageID in group.pending {
            groupOfMessage.removeValue(forKey: messageID)
            ignored.insert(messageID)
        }
        resumptions.resume(group.continuation, with: .failure(CancellationError()))
    }

    mutating func failAll(_ error: any Error, _ resumptions: inout Resumptions) {
        for group in groups.values { resumptions.resume(group.continuation, with: .failure(error)) }
        groups.removeAll()
        groupOfMessage.removeAll()
        early.removeAll()
        ignored.removeAll()
        requests.removeAll()
    }

    private mutating func settle(_ messageID: Int32, reasonCode: Int32, in token: UInt64, _ resumptions: inout Resumptions) {
        guard var group = groups[token] else { return }
        group.pending.remove(messageID)
        if reasonCode >= 0x80 && group.firstRefusal == nil { group.firstRefusal = reasonCode }
        if reasonCode == 0x10 { group.noMatchingSubscribers = true }
        guard group.pending.isEmpty else {
            groups[token] = group
            return
        }
        groups.removeValue(forKey: token)
        if let refusal = group.firstRefusal {
            resumptions.resume(group.continuation, with: .failure(MQTTError.refused(operation: "publish", reasonCode: Int(refusal))))
        } else {
            resumptions.resume(group.continuation, with: .success(group.noMatchingSubscribers ? .noMatchingSubscribers : .delivered))
        }
    }
}
