/**
 * The `validate` hook (ConnectOptions): checks incoming data at run time before the application sees it, e.g.
 * with a zod schema's `parse`, where the subject schema (typed.ts) can only claim types at compile time.
 */
import { SubwireError } from '../shared/errors.ts'
import type { Msg } from './message.ts'

/**
 * Checks the data of a message received on `subject` (`kind: 'message'`), or of a reply to a `request` on
 * `subject` (`kind: 'reply'`); throwing refuses it.
 */
export type Validate = (subject: string, data: unknown, kind: 'message' | 'reply') => void

/**
 * Decodes `msg`'s data now and runs `validate` on it: returns null when it passes, else the refusal
 * (`bad_payload`; its `cause` is what the validator threw, or the decode error).
 */
export function screen(validate: Validate, subject: string, msg: Msg, kind: 'message' | 'reply'): SubwireError | null {
  let data: unknown
  try {
    data = msg.data
  } catch (err) {
    return err instanceof SubwireError ? err : new SubwireError('bad_payload', `data on ${subject} could not be decoded`, { cause: err })
  }
  try {
    const result: unknown = validate(subject, data, kind)
    if (isThenable(result)) {
      // An async validator (an `async` function, zod's parseAsync) fits the type but decides too late: the data
      // would go through unchecked and its refusal be an unhandled rejection. Refused, and said why.
      result.then(undefined, () => undefined)
      throw new TypeError('validate returned a promise: it must check synchronously')
    }
    return null
  } catch (cause) {
    return new SubwireError('bad_payload', `data on ${subject} refused by validate`, { cause })
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'
}
