/**
 * Typed subjects (types only: nothing here exists at run time, so it costs a bundle nothing).
 *
 * A schema maps subject patterns to payload types; `*` stands for one token and `>` for one or more, as in
 * subscriptions (shared/subject.ts). An entry `{ req, res }` is a request/reply subject: `req` is what is
 * sent (and what a responder receives), `res` what comes back.
 *
 * - Sending (`publish`, `request`, `publishAck`) to a concrete subject: the data must fit every entry that
 *   matches it (their intersection), so every subscriber's type holds.
 * - Receiving (`subscribe`): a pattern gets the union of the entries it overlaps (`sensors.>` gets every
 *   `sensors.…` entry), since any of them may arrive.
 * - A subject no entry matches is `unknown`, unless the schema is strict (`connect<S, { strict: true }>`),
 *   where it does not compile.
 * - A subject whose type is plain `string` cannot be matched at compile time: its data is `unknown` (strict:
 *   refused). A template literal such as `sensors.${string}.temp` is matched, its `${string}` parts standing
 *   for any one token.
 *
 * @example
 * type Schema = { 'sensors.*.temp': { value: number }, 'price.quote': { req: { sku: string }, res: { total: number } } }
 * const c = await connect<Schema>(url)
 * c.publish('sensors.paris.temp', { value: 21 })
 */

/** A subject schema: subject pattern → payload type, or `{ req, res }` for request/reply. */
export type SubjectSchema = object

/** Options of a schema: `strict` refuses subjects no entry matches. */
export interface SchemaOptions {
  /** @default false */
  strict?: boolean
}

/**
 * The schema of a client made without one: every subject allowed, all data `unknown`, exactly the untyped
 * client. (Distinct from `{}`, a schema with no entries, which is strict-able.)
 */
export interface Untyped {
  readonly __subwireUntyped: true
}

/** `a.b.c` → `['a', 'b', 'c']`. */
export type SubjectTokens<S extends string> = S extends `${infer H}.${infer R}` ? [H, ...SubjectTokens<R>] : [S]

/**
 * Whether the concrete subject tokens `T` match the pattern tokens `P`. A token that is not a literal (from
 * a template literal's `${string}`) matches only `*` and `>`: it could be any token.
 */
type MatchTokens<P extends string[], T extends string[]> =
  P extends [] ? (T extends [] ? true : false)
  : P extends ['>'] ? (T extends [string, ...string[]] ? true : false)
  : P extends [infer PH extends string, ...infer PR extends string[]]
    ? T extends [infer TH extends string, ...infer TR extends string[]]
      ? PH extends '*' ? MatchTokens<PR, TR>
      : string extends TH ? false
      : TH extends PH ? MatchTokens<PR, TR> : false
      : false
    : false

/** Whether two patterns share at least one concrete subject (a subscription's pattern against an entry's). */
type OverlapTokens<A extends string[], B extends string[]> =
  A extends [] ? (B extends [] ? true : false)
  : B extends [] ? false
  : A extends ['>'] ? true
  : B extends ['>'] ? true
  : A extends [infer AH extends string, ...infer AR extends string[]]
    ? B extends [infer BH extends string, ...infer BR extends string[]]
      ? AH extends '*' ? OverlapTokens<AR, BR>
      : BH extends '*' ? OverlapTokens<AR, BR>
      : string extends AH ? OverlapTokens<AR, BR>
      : AH extends BH ? OverlapTokens<AR, BR> : false
      : false
    : false

/** Entry keys of `S` (string keys only). */
type Keys<S> = Extract<keyof S, string>

/** The entries of `S` matching the concrete subject `K`, as a union of keys (`never` when none does). */
export type MatchingKeys<S, K extends string> = {
  [P in Keys<S>]: MatchTokens<SubjectTokens<P>, SubjectTokens<K>> extends true ? P : never
}[Keys<S>]

/** The entries of `S` that a subscription on pattern `P` overlaps. */
export type OverlappingKeys<S, P extends string> = {
  [E in Keys<S>]: OverlapTokens<SubjectTokens<P>, SubjectTokens<E>> extends true ? E : never
}[Keys<S>]

/** Whether entry `E` is a request/reply entry: exactly the keys `req` and `res`. */
type IsRequestReply<E> = E extends object ? ([keyof E] extends ['req' | 'res'] ? (['req' | 'res'] extends [keyof E] ? true : false) : false) : false

/** What is sent on (and received from) an entry: `req` of a request/reply entry, else the entry itself. */
type Sent<E> = IsRequestReply<E> extends true ? (E extends { req: infer Q } ? Q : never) : E
/** What comes back from an entry: `res` of a request/reply entry, else `unknown`. */
type Answered<E> = IsRequestReply<E> extends true ? (E extends { res: infer R } ? R : never) : unknown

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never

/** True when `K` is plain `string` (or another non-literal the schema cannot be matched against). */
type IsWide<K extends string> = string extends K ? true : false

/** `true` when `O` declares the schema strict. */
type IsStrict<O extends SchemaOptions> = O['strict'] extends true ? true : false

/** Whether `K` has a wildcard token: a pattern, to which nothing can be sent (`bad_subject` at run time). */
type HasWildcard<K extends string> = [Extract<SubjectTokens<K>[number], '*' | '>'>] extends [never] ? false : true

/**
 * The subjects `publish`/`request` accept: `K` itself, or `never` (a compile error) when `K` is a pattern, or
 * the schema is strict and no entry matches `K`.
 */
export type SendSubject<S, O extends SchemaOptions, K extends string> =
  S extends Untyped ? K
  : HasWildcard<K> extends true ? never
  : IsStrict<O> extends true ? (IsWide<K> extends true ? never : [MatchingKeys<S, K>] extends [never] ? never : K)
  : K

/** The patterns `subscribe` accepts: `P`, or `never` when the schema is strict and `P` overlaps no entry. */
export type ReceiveSubject<S, O extends SchemaOptions, P extends string> =
  S extends Untyped ? P
  : IsStrict<O> extends true ? (IsWide<P> extends true ? never : [OverlappingKeys<S, P>] extends [never] ? never : P)
  : P

/** The data sent to concrete subject `K`: every matching entry's (their intersection), `unknown` when none. */
export type SendData<S, K extends string> =
  S extends Untyped ? unknown
  : IsWide<K> extends true ? unknown
  : [MatchingKeys<S, K>] extends [never] ? unknown
  // Boxed per entry so that an entry whose own type is a union is not split up by the intersection.
  : UnionToIntersection<{ [P in MatchingKeys<S, K>]: { box: Sent<S[P]> } }[MatchingKeys<S, K>]> extends { box: infer D } ? D : never

/** The data of a reply to a request on `K`: the `res` of the matching request/reply entries, else `unknown`. */
export type ReplyData<S, K extends string> =
  S extends Untyped ? unknown
  : IsWide<K> extends true ? unknown
  : [MatchingKeys<S, K>] extends [never] ? unknown
  : { [P in MatchingKeys<S, K>]: Answered<S[P]> }[MatchingKeys<S, K>]

/** The data a subscription on `P` receives: the union of what is sent on every entry it overlaps. */
export type ReceiveData<S, P extends string> =
  S extends Untyped ? unknown
  : IsWide<P> extends true ? unknown
  : [OverlappingKeys<S, P>] extends [never] ? unknown
  : { [E in OverlappingKeys<S, P>]: Sent<S[E]> }[OverlappingKeys<S, P>]

/**
 * What a message received on `P` may be answered with (`m.respond`): the `res` of the request/reply entries
 * `P` overlaps, `unknown` when it overlaps none.
 */
export type RespondData<S, P extends string> =
  S extends Untyped ? unknown
  : IsWide<P> extends true ? unknown
  : [RequestReplyKeys<S, OverlappingKeys<S, P>>] extends [never] ? unknown
  : { [E in RequestReplyKeys<S, OverlappingKeys<S, P>>]: Answered<S[E]> }[RequestReplyKeys<S, OverlappingKeys<S, P>>]

type RequestReplyKeys<S, E extends Keys<S>> = E extends unknown ? (IsRequestReply<S[E]> extends true ? E : never) : never

/**
 * The rest of `publish`'s arguments: the data is required when the subject's type does not admit `undefined`.
 */
export type PublishRest<D, Opt> = undefined extends D ? [data?: D, options?: Opt] : [data: D, options?: Opt]
