/** Helpers of the CLI configuration tests: config files in a temporary directory, and bad_option messages. */
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SubwireError } from '../../shared/errors.ts'

/** Writes config files (JSON, or text as it is) into one temporary directory; `remove()` deletes it. */
export class ConfigFiles {
  readonly dir: string
  #files = 0

  constructor(prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), prefix))
  }

  write(content: unknown): string {
    const file = join(this.dir, `config-${this.#files++}.json`)
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
    return file
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** The message of the SubwireError `fn` throws (its code must be bad_option). */
export function badOption(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.instance(err, SubwireError)
    assert.is((err as SubwireError).code, 'bad_option')
    return (err as Error).message
  }
  assert.unreachable('expected a bad_option error')
  return ''
}
