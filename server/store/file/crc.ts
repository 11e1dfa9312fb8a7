/**
 * CRC32C of records and segments, through `@node-rs/crc32` (README "Why each runtime dependency"), loaded on
 * the first checksum: a broker without file topics never loads the native addon, which put 5–6 MiB on the
 * RSS of every broker process (measured: `ws pino msgpackr nanoid` 58.3 MiB, with the addon 63.2–64.2 MiB).
 */
import { createRequire } from 'node:module'
import type * as NodeRsCrc32 from '@node-rs/crc32'

type Crc32c = typeof NodeRsCrc32.crc32c
let impl: Crc32c | null = null

/** CRC32C of `input`, continuing from `initial` when given. */
export function crc32c(input: Buffer | Uint8Array, initial?: number): number {
  impl ??= (createRequire(import.meta.url)('@node-rs/crc32') as typeof NodeRsCrc32).crc32c
  return impl(input as Buffer, initial)
}
