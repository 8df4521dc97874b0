import { closeSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * The change notices between the processes of one node (`server.workers`, issue 16): a small
 * file of fixed slots, one per worker process, each a change count and a count of changing
 * transactions still open (little-endian uint32 each). A process that starts a change writes its
 * slot before the change commits and again after it settled; every other process reads the whole
 * file (one pread of a few bytes from the page cache, about a microsecond) each time it asks
 * whether its cached facts are current. So a block made through one worker closes every other
 * worker's fast path before the block's transaction commits, and keeps it closed until that
 * worker has read the database after the commit: the first request after the change is refused
 * whichever process it reaches. Shared memory would do the same without the system call, but
 * Node has none between processes; a message to the other processes would arrive after the
 * answer that reports the change, which could be too late.
 *
 * Torn reads: each slot is written by one process only, 8 aligned bytes in one write; a read
 * that saw a half-written slot still differs from what it saw before and so counts as a move.
 */
const SLOT_BYTES = 8;

export class ChangeBoard {
  private readonly fd: number;
  private readonly own = Buffer.alloc(SLOT_BYTES);
  private seen: Buffer;
  private read: Buffer;
  private seq: number;
  private open = 0;
  /** True when, at the last read, another process had a changing transaction open. */
  othersOpen = false;

  private constructor(
    file: string,
    private readonly slot: number,
    slots: number,
  ) {
    this.fd = openSync(file, 'r+');
    this.seen = Buffer.alloc(slots * SLOT_BYTES);
    this.read = Buffer.alloc(slots * SLOT_BYTES);
    // A replacement worker goes on from its slot's count, so its first write is a move.
    this.readInto(this.seen);
    this.seq = this.seen.readUInt32LE(slot * SLOT_BYTES);
    this.seen.fill(0, slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
    this.othersOpen = anyOpen(this.seen);
  }

  /** The primary makes the file, all slots zero, before it starts a worker. */
  static create(file: string, slots: number): void {
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, Buffer.alloc(slots * SLOT_BYTES), 0, slots * SLOT_BYTES, 0);
    } finally {
      closeSync(fd);
    }
  }

  /** A worker's view of the board, writing in `slot`. */
  static open(file: string, slot: number, slots: number): ChangeBoard {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots)
      throw new Error(`change board: slot ${slot} is not one of ${slots}`);
    return new ChangeBoard(file, slot, slots);
  }

  /**
   * The primary clears the slot of a worker that died, maybe inside a changing transaction
   * (which its death rolled back): the others reopen once they have read the database again.
   */
  static clear(file: string, slot: number): void {
    const fd = openSync(file, 'r+');
    try {
      const b = Buffer.alloc(SLOT_BYTES);
      readSync(fd, b, 0, SLOT_BYTES, slot * SLOT_BYTES);
      const seq = (b.readUInt32LE(0) + 1) >>> 0;
      b.writeUInt32LE(seq, 0);
      b.writeUInt32LE(0, 4);
      writeSync(fd, b, 0, SLOT_BYTES, slot * SLOT_BYTES);
    } finally {
      closeSync(fd);
    }
  }

  /** A changing transaction of this process begins (before it commits). */
  begin(): void {
    this.open++;
    this.write();
  }

  /** A changing transaction of this process settled (committed or rolled back). */
  end(): void {
    this.open = Math.max(0, this.open - 1);
    this.write();
  }

  /** A change outside a transaction was made (after its statement completed). */
  note(): void {
    this.write();
  }

  /** Reads the board; true when another process's slot moved since the last read. */
  moved(): boolean {
    this.readInto(this.read);
    this.read.fill(0, this.slot * SLOT_BYTES, (this.slot + 1) * SLOT_BYTES);
    if (this.read.equals(this.seen)) return false;
    [this.seen, this.read] = [this.read, this.seen];
    this.othersOpen = anyOpen(this.seen);
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }

  private write(): void {
    this.seq = (this.seq + 1) >>> 0;
    this.own.writeUInt32LE(this.seq, 0);
    this.own.writeUInt32LE(this.open, 4);
    writeSync(this.fd, this.own, 0, SLOT_BYTES, this.slot * SLOT_BYTES);
  }

  private readInto(b: Buffer): void {
    const n = readSync(this.fd, b, 0, b.length, 0);
    if (n !== b.length) throw new Error(`change board: read ${n} of ${b.length} bytes`);
  }
}

function anyOpen(b: Buffer): boolean {
  for (let off = 4; off < b.length; off += SLOT_BYTES) if (b.readUInt32LE(off) !== 0) return true;
  return false;
}
