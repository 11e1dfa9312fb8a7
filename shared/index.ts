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
export {
  FrameDecoder, decodeJsonFrame, jsonMsgTail, jsonOp, writePub, writeMsg, msgPrefix, encodeMsgTail, writeSub, writeUnsub,
  writeBodyOp, writeErr, writeAck, writeEvent, encodePayload, decodePayload, PING_BYTES, PONG_BYTES, MSG_PREFIX_MAX,
  type OpSink, type DecodeLimits, type EncodedPayload,
} from './codec.ts'
export { MsgpackReader, MsgpackWriter, decodeUtf8, type WireValue } from './msgpack.ts'
export { toBase64, fromBase64 } from './base64.ts'
