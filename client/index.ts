/** `subwire/client`: the isomorphic client (browsers and Node). */
export { connect, Client, CLIENT_STATE, type ClientState, type ConnectOptions, type PublishOptions, type RequestOptions } from './client.ts'
export { Subscription, type SubscribeOptions } from './subscription.ts'
export { Msg } from './message.ts'
export type { Status } from './status.ts'
export type { ReconnectOptions } from './reconnect.ts'
export type { WebSocketConstructor, WebSocketLike } from './transport.ts'
export { SubwireError, type ErrorCode } from '../shared/errors.ts'
export { TopicsApi, type TopicConfig, type TopicInfo, type TopicGroupInfo } from './topics.ts'
