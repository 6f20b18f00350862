import Foundation

/// Waiters for PUBACKs, kept under a lock of their own so that the network thread delivering acknowledgements
/// does not contend with the rest of the client's state. A waiter waits for a group of message ids: one for a
/// single publish, many for a batch, which then costs one task wake-up instead of one per message.
///
/// The lock is *not* held while libmosquitto queues a PUBLISH (that call writes to a socket), so an
/// acknowledgement can overtake its waiter: it is parked in `early` until the waiter arrives. QoS 0 publishes are
/// acknowledged by libmosquitto too, but nobody waits for them: their ids go to `ignored`, whichever comes first.
/// Continuations are never resumed here, only handed to `Resumptions` to resume after the lock is released.
///
/// Message ids have 16 bits, and libmosquitto hands them out in turn without checking which are still in use: with
/// more than 65 535 publishes awaiting their PUBACK an id came round again, the new waiter replaced the old one,
/// and the old publish waited forever (issue 10, item 9). So QoS 1/2 publishes are counted from before they are
/// queued (`reserve`) until their PUBACK (`outstanding`), a publish beyond the limit fails at once, and a waiter
/// whose id is reused all the same fails instead of hanging.
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
    /// QoS 1/2 publishes reserved but not yet handed to one of `wait`, `ignore` or `watch`.
    private var reserved = 0
    /// QoS 1/2 publishes queued and not yet acknowledged, by message id.
    private var outstanding: Set<Int32> = []

    /// Publishes awaiting their PUBACK (or about to be queued).
    var pendingCount: Int { reserved + outstanding.count }

    /// Whether a task waits for a PUBACK: then the network thread must read even while a subscription is full.
    var hasWaiters: Bool { !groups.isEmpty || !requests.isEmpty }

    /// Makes room for `count` QoS 1/2 publishes before they are queued, or refuses them all.
    mutating func reserve(_ count: Int, limit: Int) throws(MQTTError) {
        guard pendingCount + count <= limit else { throw .tooManyPendingPublishes }
        reserved += count
    }

    /// Gives back reservations whose publishes were not queued after all.
    mutating func release(_ count: Int) {
        reserved = max(0, reserved - count)
    }

    /// Called on the network thread with the PUBACK's reason code. Returns the correlation data of a request
    /// whose publish the broker refused or had nobody to deliver to, with the error that request fails with.
    mutating func acknowledged(messageID: Int32, reasonCode: Int32, _ resumptions: inout Resumptions) -> (correlation: Data, error: MQTTError)? {
        let wasOutstanding = outstanding.remove(messageID) != nil
        if ignored.remove(messageID) != nil { return nil }
        if let request = requests.removeValue(forKey: messageID) {
            guard let error = Self.requestError(reasonCode, topic: request.topic) else { return nil }
            return (request.correlation, error)
        }
        guard let token = groupOfMessage.removeValue(forKey: messageID) else {
            if !wasOutstanding { early[messageID] = reasonCode }
            return nil
        }
        settle(messageID, reasonCode: reasonCode, in: token, &resumptions)
        return nil
    }

    /// Turns a reservation into a queued publish. Returns the reason code if its PUBACK came first (then it is no
    /// longer outstanding). A waiter still holding the same id (its PUBACK outstanding for 65 535 further
    /// publishes) can no longer be told apart from this one: it fails now rather than wait forever.
    private mutating func queued(_ messageID: Int32, _ resumptions: inout Resumptions) -> Int32? {
        reserved = max(0, reserved - 1)
        if let reasonCode = early.removeValue(forKey: messageID) { return reasonCode }
        if !outstanding.insert(messageID).inserted {
            if let token = groupOfMessage.removeValue(forKey: messageID), let group = groups.removeValue(forKey: token) {
                for other in group.pending where other != messageID { groupOfMessage.removeValue(forKey: other) }
                ignored.formUnion(group.pending.subtracting([messageID]))
                resumptions.resume(group.continuation, with: .failure(MQTTError.tooManyPendingPublishes))
            }
            ignored.remove(messageID)
            requests.removeValue(forKey: messageID)
        }
        return nil
    }

    /// A request's publish: its reply is the acknowledgement that counts, but a PUBACK saying "refused" or
    /// "no matching subscribers" means no reply will come. Returns the request's error if that PUBACK came first.
    mutating func watch(requestMessageID messageID: Int32, correlation: Data, topic: String, _ resumptions: inout Resumptions) -> MQTTError? {
        if let reasonCode = queued(messageID, &resumptions) {
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
            if let reasonCode = queued(messageID, &resumptions) {
                settle(messageID, reasonCode: reasonCode, in: token, &resumptions)
            } else {
                groupOfMessage[messageID] = token
            }
        }
    }

    /// Publishes nobody waits for: QoS 0 ones (`counted` false: they were never reserved), replies, a birth
    /// message, or ones whose waiter gave up. Their acknowledgements, if any, are dropped.
    mutating func ignore(messageIDs: some Sequence<Int32>, counted: Bool = true, _ resumptions: inout Resumptions) {
        for messageID in messageIDs {
            if counted {
                if queued(messageID, &resumptions) == nil { ignored.insert(messageID) }
            } else if early.removeValue(forKey: messageID) == nil {
                ignored.insert(messageID)
            }
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
        outstanding.removeAll()
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
