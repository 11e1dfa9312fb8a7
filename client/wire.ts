/** The protocol constants the client uses, gathered from shared/ in one import. */
export { CLOSE_CODE, DEFAULT_LIMITS, ENCODING, OP, PROTOCOL_VERSION, PUB_FLAG, type ConnectInfo, type Info } from '../shared/protocol.ts'
export { PING_BYTES, PONG_BYTES } from '../shared/codec.ts'
