/** `subwire/server`: the broker. */
export { createBroker, Broker, type BrokerStats } from './broker.ts'
export { DEFAULT_PORT, type BrokerOptions, type BrokerConfig } from './options.ts'
export { SubwireError, type ErrorCode } from '../shared/errors.ts'
