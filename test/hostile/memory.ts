/**
 * A real `gc()` for memory assertions. `npm test`'s command line is fixed (no `--expose-gc`), so the flag is
 * set at run time and the function taken from a fresh context, where V8 installs it.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let gc: (() => void) | null = null

/** Runs a full garbage collection (twice: the second frees what the first finalised). */
export function collectGarbage(): void {
  if (gc === null) {
    setFlagsFromString('--expose_gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
  gc()
}
