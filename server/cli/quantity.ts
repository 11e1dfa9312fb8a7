/**
 * Numbers as operators write them: sizes with units (`64KiB`, `1MiB`) and durations with units (`250ms`, `10s`,
 * `2m`, `1h`), in flags, variables and config files alike (serve-config.ts, topic-options.ts).
 */

/** How a number is written: a plain integer, a size in bytes, or a duration in milliseconds. */
export type QuantityKind = 'int' | 'bytes' | 'ms'

const KiB = 1024
const MiB = 1024 * KiB

/** Size units; `k`, `m`, `g` are binary, as operators usually mean them for buffers. */
const BYTE_UNITS: Record<string, number> = {
  b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, kib: KiB, mib: MiB, gib: 1024 * MiB, k: KiB, m: MiB, g: 1024 * MiB,
}

/** Duration units; for a duration `m` is minutes (`2m`), never a size. */
const TIME_UNITS: Record<string, number> = {
  ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000,
}

/**
 * A number written with an optional unit: `1048576`, `1MiB`, `64 KiB`, `250ms`, `10s`, `2m`, `1e6`. Strings that
 * are not numbers (or carry a unit of the other kind) come back unchanged, so a schema reports them.
 * @example parseQuantity('1MiB', 'bytes') // 1048576
 */
export function parseQuantity(raw: unknown, kind: QuantityKind | string): unknown {
  if (typeof raw !== 'string') return raw
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(raw)
  if (m === null) return raw
  const unit = (m[2] ?? '').toLowerCase()
  if (unit === '') return Number(m[1])
  const units = kind === 'bytes' ? BYTE_UNITS : kind === 'ms' ? TIME_UNITS : null
  const factor = units?.[unit]
  if (factor === undefined) return raw
  return Math.round(Number(m[1]) * factor)
}

/** What a value of each kind looks like, for error messages. */
export const QUANTITY_EXAMPLE: Record<QuantityKind, string> = {
  int: 'an integer',
  bytes: 'a size in bytes (e.g. 1048576 or 1MiB)',
  ms: 'a duration in ms (e.g. 1500, 1.5s or 2min)',
}
