/**
 * Every script of the Redis topic store, each its own library prefix plus one operation's body, with the name
 * it is called by (a method ioredis defines on the client: `<name>Buffer`).
 */
import type { ScriptDef } from './redis-link.ts'
import { GROUP_LIB } from './lua/group-lib.ts'
import { LOG_LIB } from './lua/log-lib.ts'
import * as log from './lua/log-scripts.ts'
import * as groups from './lua/group-scripts.ts'

/** The script names, as the store calls them. */
export const SCRIPT = {
  create: 'subwireTopicCreate',
  update: 'subwireTopicUpdate',
  delete: 'subwireTopicDelete',
  info: 'subwireTopicInfo',
  append: 'subwireTopicAppend',
  read: 'subwireTopicRead',
  get: 'subwireTopicGet',
  last: 'subwireTopicLast',
  lastPerSubject: 'subwireTopicLastPerSubject',
  purge: 'subwireTopicPurge',
  openGroup: 'subwireGroupOpen',
  deleteGroup: 'subwireGroupDelete',
  groupInfo: 'subwireGroupInfo',
  join: 'subwireGroupJoin',
  leave: 'subwireGroupLeave',
  pull: 'subwireGroupPull',
  settle: 'subwireGroupSettle',
  nak: 'subwireGroupNak',
  working: 'subwireGroupWorking',
  nextDeadline: 'subwireGroupNextDeadline',
  leaveMembers: 'subwireGroupLeaveMembers',
} as const

/** Name, key count, body, and whether it needs the group library (the log's hot scripts do not: less to run per call). */
const BODIES: ReadonlyArray<readonly [string, number, string, boolean?]> = [
  [SCRIPT.create, 2, log.CREATE],
  [SCRIPT.update, 2, log.UPDATE],
  [SCRIPT.delete, 2, log.DELETE],
  [SCRIPT.info, 1, log.INFO],
  [SCRIPT.append, 1, log.APPEND, false],
  [SCRIPT.read, 1, log.READ, false],
  [SCRIPT.get, 1, log.GET, false],
  [SCRIPT.last, 1, log.LAST, false],
  [SCRIPT.lastPerSubject, 1, log.LAST_PER_SUBJECT, false],
  [SCRIPT.purge, 1, log.PURGE, false],
  [SCRIPT.openGroup, 1, groups.OPEN_GROUP],
  [SCRIPT.deleteGroup, 1, groups.DELETE_GROUP],
  [SCRIPT.groupInfo, 1, groups.GROUP_INFO],
  [SCRIPT.join, 1, groups.JOIN],
  [SCRIPT.leave, 1, groups.LEAVE],
  [SCRIPT.pull, 1, groups.PULL],
  [SCRIPT.settle, 1, groups.SETTLE],
  [SCRIPT.nak, 1, groups.NAK],
  [SCRIPT.working, 1, groups.WORKING],
  [SCRIPT.nextDeadline, 1, groups.NEXT_DEADLINE],
  [SCRIPT.leaveMembers, 1, groups.LEAVE_MEMBERS],
]

/** Every script, ready for `defineCommand`. */
export const SCRIPTS: readonly ScriptDef[] = BODIES.map(([name, keys, body, groups = true]) => ({ name, keys, lua: LOG_LIB + (groups ? GROUP_LIB : '') + body }))
