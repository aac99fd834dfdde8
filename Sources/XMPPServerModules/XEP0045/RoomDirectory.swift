import Foundation
import NIOConcurrencyHelpers
import XMPPCore
import XMPPServer
import XMPPStorage

/// What a room's queue holds.
enum RoomInput: Sendable {
    case stanza(Element)
    /// The server is stopping.
    case shutdown
    /// An administrator destroys the room (`AdminOperations.destroyRoom`); `done` hears
    /// whether there was a room to destroy, exactly once.
    case destroy(reason: String?, done: @Sendable (Bool) -> Void)
}

/// The rooms of one MUC service that are in memory. A room is loaded from storage when a
/// stanza first addresses it and dropped again when its last occupant leaves, so a service
/// with a million persistent rooms starts as fast as one with none. Each room takes its
/// stanzas one at a time, in order, on a task of its own while it has any: one busy room
/// never holds up the others.
final class RoomDirectory: Sendable {
    /// One room's queue. Its fields are read and written under the directory's lock; the room
    /// changes only in the task that drains the queue.
    final class Mailbox: @unchecked Sendable {
        var pending: [RoomInput] = []
        var draining = false
        var loaded = false
        var room: Room?
        /// The room's directory entry (its name when public and open), kept under the lock
        /// for listings while the room is busy.
        var listing: String?
    }

    let service: MUCService
    private let mailboxes = NIOLockedValueBox<[String: Mailbox]>([:])
    private let stopped = NIOLockedValueBox(false)

    init(service: MUCService) {
        self.service = service
    }

    /// Queues a stanza for the room `name` (a prepared localpart); its task starts if idle.
    func dispatch(_ stanza: Element, to name: String) {
        self.enqueue(.stanza(stanza), to: name)
    }

    /// Destroys the room `name` in its turn after what is queued for it, loading it first if
    /// it is stored; false when there is no such room (or the service is stopping).
    func destroy(_ name: String, reason: String?) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let queued = self.enqueue(.destroy(reason: reason, done: { continuation.resume(returning: $0) }), to: name)
            if !queued { continuation.resume(returning: false) }
        }
    }

    /// False when the directory stopped and the input was dropped.
    @discardableResult
    private func enqueue(_ input: RoomInput, to name: String) -> Bool {
        guard !self.stopped.withLockedValue({ $0 }) else { return false }
        let (mailbox, start) = self.mailboxes.withLockedValue { boxes -> (Mailbox, Bool) in
            let mailbox = boxes[name] ?? Mailbox()
            boxes[name] = mailbox
            mailbox.pending.append(input)
            let start = !mailbox.draining
            mailbox.draining = true
            return (mailbox, start)
        }
        if start { Task { await self.drain(mailbox, name: name) } }
        return true
    }

    private func drain(_ mailbox: Mailbox, name: String) async {
        while true {
            // Whatever has queued is taken at once: the queue is never shifted an item at a time.
            let batch: [RoomInput] = self.mailboxes.withLockedValue { boxes in
                let batch = mailbox.pending
                mailbox.pending.removeAll(keepingCapacity: true)
                guard batch.isEmpty else { return batch }
                mailbox.draining = false
                // An empty room leaves memory; it is stored already if it is persistent.
                if mailbox.room?.isEmpty ?? true, boxes[name] === mailbox { boxes[name] = nil }
                return []
            }
            guard !batch.isEmpty else { return }
            if !mailbox.loaded {
                let loaded = await self.service.load(name)
                self.mailboxes.withLockedValue { _ in
                    mailbox.room = loaded
                    mailbox.loaded = true
                }
            }
            var room = self.mailboxes.withLockedValue { _ in mailbox.room }
            for input in batch {
                room = await self.service.handle(input, room: room, name: name)
            }
            let listing = room.flatMap { $0.configuration.isPublic && !$0.locked ? $0.configuration.name : nil }
            let settled = room
            // Written under the lock: listings and shutdown read them from other tasks.
            self.mailboxes.withLockedValue { _ in
                mailbox.room = settled
                mailbox.listing = listing
            }
        }
    }

    /// Rooms in memory and their occupants, for the metrics; a busy room counts as it was
    /// after its last batch.
    func liveCounts() -> (rooms: Int, occupants: Int) {
        self.mailboxes.withLockedValue { boxes in
            boxes.values.reduce(into: (rooms: 0, occupants: 0)) { counts, box in
                guard let room = box.room else { return }
                counts.rooms += 1
                counts.occupants += room.occupants.count
            }
        }
    }

    /// The rooms in memory as they were after their last batch, by name.
    func liveRooms() -> [String: Room] {
        self.mailboxes.withLockedValue { boxes in
            boxes.reduce(into: [:]) { rooms, entry in
                if let room = entry.value.room { rooms[entry.key] = room }
            }
        }
    }

    /// The room `name` if it is in memory.
    func liveRoom(_ name: String) -> Room? {
        self.mailboxes.withLockedValue { boxes in boxes[name]?.room }
    }

    /// Rooms in memory that anyone may see listed (public, configured), with their names.
    func listedLiveRooms() -> [(name: String, title: String)] {
        self.mailboxes.withLockedValue { boxes in
            boxes.compactMap { name, box in box.listing.map { (name, $0) } }
        }
    }

    /// Tells every room in memory that the service is going away (its occupants hear 332),
    /// then waits for the rooms to be done.
    func shutDown() async {
        let starting = self.mailboxes.withLockedValue { boxes -> [(String, Mailbox)] in
            var starting: [(String, Mailbox)] = []
            for (name, mailbox) in boxes where mailbox.room != nil || mailbox.draining {
                mailbox.pending.append(.shutdown)
                if !mailbox.draining {
                    mailbox.draining = true
                    starting.append((name, mailbox))
                }
            }
            return starting
        }
        for (name, mailbox) in starting { Task { await self.drain(mailbox, name: name) } }
        await self.stop()
    }

    /// Waits (a bounded time) for rooms still working through their queues, so their last
    /// writes land before storage closes; what arrives later is dropped.
    func stop() async {
        self.stopped.withLockedValue { $0 = true }
        for _ in 0..<500 {
            let busy = self.mailboxes.withLockedValue { boxes in boxes.values.contains { $0.draining } }
            guard busy else { return }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}
