/** `subwire/server`: the broker. */
export { createBroker, Broker, BROKER_STATE, type BrokerState, type BrokerStats } from './broker.ts'
export { BrokerEvents, type BrokerEventMap, type ConnectionSummary } from './broker-events.ts'
export { DEFAULT_PORT, type BrokerOptions, type BrokerConfig } from './options.ts'
export { SubwireError, type ErrorCode } from '../shared/errors.ts'
export { hashPassword, verifyPassword, type AuthOptions, type Credentials, type Identity } from './auth.ts'
export { patternCovers, patternsIntersect, type Permissions, type SubjectRules } from './permissions.ts'
