/**
 * `subwire/shared`: what the broker and the client have in common: the error class and codes, protocol
 * constants, subject rules and the codecs.
 */
export { SubwireError, ERROR_CODES, isErrorCode, errorCodeForClose, CLOSE_CODE_FOR, type ErrorCode } from './errors.ts'
export {
  PROTOCOL_VERSION, SUBPROTOCOL, OP, ENCODING, PUB_FLAG, STATUS_HEADER, CLOSE_CODE, DEFAULT_LIMITS, ACK_KIND, HEADER, TOPIC_API, DLQ_PREFIX,
  type AckKind,
  type Subprotocol, type OpCode, type Encoding, type CloseCode, type Info, type ConnectInfo,
} from './protocol.ts'
export {
  subjectProblem, isValidSubject, isValidPattern, assertSubject, assertPattern, subjectMatches, hasWildcard, utf8Length,
} from './subject.ts'
export type { OpSink, DecodeLimits } from './op-sink.ts'
export { FrameDecoder } from './frame-decoder.ts'
export { decodeJsonFrame, jsonMsgTail, jsonOp } from './json-frame.ts'
export {
  writePub, writeMsg, msgPrefix, encodeMsgTail, writeSub, writeUnsub, writeBodyOp, writeErr, writeAck, writeEvent,
  PING_BYTES, PONG_BYTES, MSG_PREFIX_MAX,
} from './op-writer.ts'
export { encodePayload, decodePayload, type EncodedPayload } from './payload-codec.ts'
export { MsgpackReader, decodeUtf8, type WireValue } from './msgpack-reader.ts'
export { MsgpackWriter } from './msgpack-writer.ts'
export { toBase64, fromBase64 } from './base64.ts'
