/**
 * The MSG tails that binary outbound queues reference until their next frame is built: each publish's tail is
 * entered once and every subscriber's queue holds its slot number, not the tail itself.
 *
 * Why a table: queues holding tails in arrays of their own (a slot per delivery, on V8's young heap) put
 * ~1 MB of survivors on the first fan-out scavenge, enough for V8 to double its young generation (broker
 * heap 18 → 27 MiB). This table is one array, sized past V8's large-object threshold so it is allocated in
 * the old generation once; queues keep slot numbers in typed arrays, outside the JS heap.
 */
import type { Delivery } from './delivery.ts'

/** 32,768 slots (256 KiB): past the large-object threshold, and more publishes than one tick routes. */
const INITIAL_SLOTS = 32 * 1024

let tails: (Uint8Array | null)[] = new Array<Uint8Array | null>(INITIAL_SLOTS).fill(null)
let used = 0
/** Queues holding slot numbers; when none do, every slot is free again. */
let holders = 0

/** The slot of `d`'s binary tail, entering it if this publish has none yet. */
export function tailSlot(d: Delivery, tail: Uint8Array): number {
  const slot = d.tailSlot
  if (slot >= 0 && slot < used && tails[slot] === tail) return slot
  if (used === tails.length) tails = tails.concat(new Array<Uint8Array | null>(tails.length).fill(null))
  tails[used] = tail
  d.tailSlot = used
  return used++
}

export function tailAt(slot: number): Uint8Array {
  return tails[slot] as Uint8Array
}

/** A queue started holding slots. */
export function holdTails(): void {
  holders++
}

/**
 * A queue let go of its slots. When it was the last, the slots are cleared: a tail is a view of its
 * publisher's frame, and a slot left filled would keep that frame alive.
 */
export function releaseTails(): void {
  if (--holders > 0) return
  for (let i = 0; i < used; i++) tails[i] = null
  used = 0
}
