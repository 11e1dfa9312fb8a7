/**
 * Authentication: turns the credentials in CONNECT (or a later AUTH) into an identity with permissions.
 * Tokens are compared in constant time, passwords are scrypt hashes, JWTs are verified with `jose`, and an
 * application hook can plug in anything else. Failures say `auth_failed` and nothing more.
 */
import { createHash, createPublicKey, randomBytes, scrypt as scryptCb, timingSafeEqual, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { promisify } from 'node:util'
import type { JWTPayload, JSONWebKeySet } from 'jose'
import type { Logger } from 'pino'
import { SubwireError } from '../../shared/errors.ts'
import { validatePermissions, type Permissions } from './permissions.ts'
import { PasswordChecks } from './password-checks.ts'

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>

/** Credentials a client presents (the CONNECT or AUTH body). */
export interface Credentials {
  token?: string
  user?: string
  password?: string
  [key: string]: unknown
}

/** Who a connection is, once authenticated. */
export interface Identity {
  user: string
  /** null: no restrictions. */
  permissions: Permissions | null
  /** Epoch ms at which the credentials expire (JWT `exp`), or null. */
  expiresAt: number | null
  /**
   * Whom the identity's inboxes belong to (README "Security"): `user` by default. JWT identities own theirs as
   * `jwt:<user>`, so a token's `sub` never equals a configured token's or user's name.
   */
  principal?: string
}

/** The `auth` option of `createBroker`. */
export interface AuthOptions {
  tokens?: Array<{ token: string; user: string; permissions?: Permissions }>
  /** `passwordHash` comes from `hashPassword()`. */
  users?: Array<{ user: string; passwordHash: string; permissions?: Permissions }>
  jwt?: {
    /** HMAC secret (HS256/384/512). */
    secret?: string | Uint8Array
    /** PEM public key (RS256, ES256, EdDSA, …). */
    publicKey?: string
    /** Path of a JWKS JSON file (`{ keys: [...] }`). */
    jwksFile?: string
    issuer?: string | string[]
    audience?: string | string[]
    /** Accepted algorithms. @default HS256/384/512 with a secret, RS/PS/ES256-512 and EdDSA with a key */
    algorithms?: string[]
    /** Claim holding the permissions object. @default 'permissions' */
    permissionsClaim?: string
    /** Claim naming the user. @default 'sub' */
    userClaim?: string
  }
  /** An application's own check (cookie session, API call); null refuses. Consulted after the built-in ones. */
  authenticate?: (connectInfo: Credentials, req: IncomingMessage) => Promise<{ user: string; permissions?: Permissions } | null> | { user: string; permissions?: Permissions } | null
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * The credentials in a plain HTTP request's `Authorization` header (the monitoring endpoints, README
 * "Security"): `Bearer <token>` (a configured token or a JWT) or `Basic <base64 of user:password>`. Null when
 * there is no header; a malformed one or another scheme gives credentials that never pass (`{}`), so it is
 * refused, and braked, like a wrong one.
 * @example httpCredentials('Bearer s3cret-token') // { token: 's3cret-token' }
 */
export function httpCredentials(authorization: string | undefined): Credentials | null {
  if (authorization === undefined || authorization === '') return null
  const space = authorization.indexOf(' ')
  const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase()
  const value = space < 0 ? '' : authorization.slice(space + 1).trim()
  if (value === '') return {}
  if (scheme === 'bearer') return { token: value }
  if (scheme !== 'basic' || !BASE64.test(value)) return {}
  const decoded = Buffer.from(value, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon <= 0 ? {} : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * Hashes a password for `auth.users` (scrypt, random salt). The result is self-describing:
 * `scrypt$N$r$p$salt$hash`, base64 parts.
 * @example const passwordHash = await hashPassword('s3cret')
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) throw new SubwireError('bad_option', 'password must be a non-empty string')
  const salt = randomBytes(16)
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 })
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** True when `password` matches a hash from `hashPassword()`; false for anything malformed. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = parts.slice(1, 4).map(Number)
  if (![N, r, p].every((x) => Number.isSafeInteger(x) && x > 0) || N > 1 << 20) return false
  const salt = Buffer.from(parts[4], 'base64')
  const expected = Buffer.from(parts[5], 'base64')
  if (expected.length === 0) return false
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * 1024 * 1024 })
  return timingSafeEqual(actual, expected)
}

/** Constant-time string equality: both sides are hashed first so lengths never leak. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** jose is loaded on first use: a broker without JWT auth never pays its memory (importing it: +9.5 MiB RSS). */
let joseModule: Promise<typeof import('jose')> | null = null
function loadJose(): Promise<typeof import('jose')> {
  return (joseModule ??= import('jose'))
}

/** A JWT verification key: bytes (HMAC), a public KeyObject, or a JWKS to pick from. */
type JwtKey = { kind: 'key'; key: Uint8Array | KeyObject } | { kind: 'jwks'; jwks: JSONWebKeySet }

const HMAC_ALGS = ['HS256', 'HS384', 'HS512']
const KEY_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/

/** Checks auth options once, at broker start; authenticates connections after. */
export class Authenticator {
  readonly #options: AuthOptions | undefined
  readonly #logger: Logger
  readonly #jwtKey: JwtKey | null
  readonly #jwtAlgorithms: string[]
  /** Bounds concurrent scrypt work, overall and per address (password-checks.ts). */
  readonly #passwordChecks: PasswordChecks

  /** `countLoopback`: per-address bounds count loopback peers too (the broker trusts a proxy). */
  constructor(options: AuthOptions | undefined, logger: Logger, countLoopback = false) {
    this.#options = options
    this.#logger = logger
    this.#passwordChecks = new PasswordChecks(countLoopback)
    validateAuthOptions(options)
    const jwt = options?.jwt
    this.#jwtKey = jwt === undefined ? null : loadJwtKey(jwt)
    this.#jwtAlgorithms = jwt?.algorithms ?? (jwt?.secret !== undefined ? HMAC_ALGS : KEY_ALGS)
  }

  /** True when connections must present credentials. */
  get required(): boolean {
    const o = this.#options
    return o !== undefined && (o.tokens !== undefined || o.users !== undefined || o.jwt !== undefined || o.authenticate !== undefined)
  }

  /** True when the application hook needs the upgrade request. */
  get needsRequest(): boolean {
    return this.#options?.authenticate !== undefined
  }

  /**
   * The identity for these credentials, or null when they are refused. Never throws for bad credentials.
   * `ip` is the client's address, for the per-address bound on password checks.
   */
  async authenticate(creds: Credentials, req: IncomingMessage | null, ip = req?.socket.remoteAddress ?? ''): Promise<Identity | null> {
    if (!this.required) return { user: typeof creds.user === 'string' ? creds.user : '', permissions: null, expiresAt: null }
    const o = this.#options as AuthOptions
    const token = typeof creds.token === 'string' ? creds.token : undefined
    if (token !== undefined && o.tokens !== undefined) {
      let found: Identity | null = null
      // Every entry is compared, so the time taken does not say which one (if any) matched.
      for (const t of o.tokens) if (sameSecret(token, t.token) && found === null) found = { user: t.user, permissions: t.permissions ?? null, expiresAt: null }
      if (found !== null) return found
    }
    if (token !== undefined && this.#jwtKey !== null && JWT_SHAPE.test(token)) {
      const identity = await this.#verifyJwt(token)
      if (identity !== null) return identity
    }
    if (typeof creds.user === 'string' && typeof creds.password === 'string' && o.users !== undefined) {
      const entry = o.users.find((u) => u.user === creds.user)
      const password = creds.password
      // A missing user still costs one hash, so timing does not reveal which users exist. No room for the hash
      // (too many at once, overall or from this address): refused at once, without spending one.
      const check = this.#passwordChecks.run(ip, entry !== undefined, () => verifyPassword(password, entry?.passwordHash ?? DUMMY_HASH))
      if (check === null) this.#logger.debug({ ip }, 'password check refused: too many at once')
      const ok = check !== null && await check
      if (ok && entry !== undefined) return { user: entry.user, permissions: entry.permissions ?? null, expiresAt: null }
    }
    if (o.authenticate !== undefined && req !== null) {
      try {
        const result = await o.authenticate(creds, req)
        if (result !== null && typeof result === 'object' && typeof result.user === 'string') {
          return { user: result.user, permissions: result.permissions === undefined ? null : validatePermissions(result.permissions), expiresAt: null }
        }
      } catch (err) {
        this.#logger.warn({ err }, 'the authenticate hook threw: refusing the connection')
      }
    }
    return null
  }

  async #verifyJwt(token: string): Promise<Identity | null> {
    const jwt = this.#options?.jwt as NonNullable<AuthOptions['jwt']>
    let payload: JWTPayload
    try {
      const jose = await loadJose()
      const k = this.#jwtKey as JwtKey
      const options = {
        algorithms: this.#jwtAlgorithms,
        ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
        ...(jwt.audience === undefined ? {} : { audience: jwt.audience }),
      }
      ;({ payload } = k.kind === 'key'
        ? await jose.jwtVerify(token, k.key, options)
        : await jose.jwtVerify(token, jose.createLocalJWKSet(k.jwks), options))
    } catch (err) {
      this.#logger.debug({ reason: (err as { code?: string }).code ?? (err as Error).message }, 'JWT refused')
      return null
    }
    const claim = payload[jwt.permissionsClaim ?? 'permissions']
    let permissions: Permissions | null = null
    if (claim !== undefined) {
      try {
        permissions = validatePermissions(claim, 'JWT permissions claim')
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, 'JWT permissions claim is malformed: refusing')
        return null
      }
    }
    const user = payload[jwt.userClaim ?? 'sub']
    const name = typeof user === 'string' ? user : ''
    return { user: name, permissions, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null, principal: `jwt:${name}` }
  }
}

// A valid hash of a random password, verified when a user name is unknown.
const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`

function loadJwtKey(jwt: NonNullable<AuthOptions['jwt']>): JwtKey {
  if (jwt.secret !== undefined) return { kind: 'key', key: typeof jwt.secret === 'string' ? new TextEncoder().encode(jwt.secret) : jwt.secret }
  if (jwt.publicKey !== undefined) {
    try {
      return { kind: 'key', key: createPublicKey(jwt.publicKey) }
    } catch (cause) {
      throw new SubwireError('bad_option', 'auth.jwt.publicKey is not a PEM public key', { cause })
    }
  }
  if (jwt.jwksFile !== undefined) {
    try {
      const jwks = JSON.parse(readFileSync(jwt.jwksFile, 'utf8')) as JSONWebKeySet
      if (!Array.isArray(jwks?.keys)) throw new Error('no keys array')
      return { kind: 'jwks', jwks }
    } catch (cause) {
      throw new SubwireError('bad_option', `auth.jwt.jwksFile ${jwt.jwksFile} is not a readable JWKS file`, { cause })
    }
  }
  throw new SubwireError('bad_option', 'auth.jwt needs secret, publicKey or jwksFile')
}

function validateAuthOptions(o: AuthOptions | undefined): void {
  if (o === undefined) return
  for (const [i, t] of (o.tokens ?? []).entries()) {
    if (typeof t.token !== 'string' || t.token.length < 8) throw new SubwireError('bad_option', `auth.tokens[${i}].token must be a string of at least 8 characters`)
    if (typeof t.user !== 'string') throw new SubwireError('bad_option', `auth.tokens[${i}].user must be a string`)
    if (t.permissions !== undefined) validatePermissions(t.permissions, `auth.tokens[${i}].permissions`)
  }
  for (const [i, u] of (o.users ?? []).entries()) {
    if (typeof u.user !== 'string') throw new SubwireError('bad_option', `auth.users[${i}].user must be a string`)
    if (typeof u.passwordHash !== 'string' || !u.passwordHash.startsWith('scrypt$')) throw new SubwireError('bad_option', `auth.users[${i}].passwordHash must come from hashPassword()`)
    if (u.permissions !== undefined) validatePermissions(u.permissions, `auth.users[${i}].permissions`)
  }
  if (o.jwt?.algorithms?.some((a) => a.toLowerCase() === 'none') === true) throw new SubwireError('bad_option', "auth.jwt.algorithms may not include 'none'")
}
