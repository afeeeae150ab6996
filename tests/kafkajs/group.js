// Runs several kafkajs consumers in one group on one topic and prints what each received:
//   node group.js <bootstrap> <topic> '<json options>'
// Options: groupId, consumers (how many members), partitions (of the topic), expected (records
// to wait for, all members together), produceAfterJoin (messages a kafkajs producer sends once
// every member holds a share of the partitions; value "<prefix>-<i>", sent to partition
// i mod partitions), prefix, describe (bool: describe and list groups through the admin client
// while the members are up), settleMs, deadlineMs.
// Offsets are auto-committed (kafkajs commits after every batch and on disconnect).
// Output: {members: [{memberId, assignment, joins, records}], described, listed}.
'use strict'

const { Partitioners } = require('kafkajs')
const { newKafka, parseArgs, recordJson, run, sleep } = require('./common')

const DEFAULT_SETTLE_MS = 500
const HEARTBEAT_INTERVAL_MS = 300
const SESSION_TIMEOUT_MS = 10000
const MAX_WAIT_TIME_MS = 200
// How often the script checks whether every member holds its share of partitions.
const ASSIGNMENT_POLL_MS = 50

const { bootstrap, topic, options } = parseArgs(['bootstrap', 'topic'])
const settings = { prefix: 'g', produceAfterJoin: 0, settleMs: DEFAULT_SETTLE_MS, ...options }
const members = []

function newMember(kafka, index) {
  const consumer = kafka.consumer({
    groupId: settings.groupId,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    sessionTimeout: SESSION_TIMEOUT_MS,
    maxWaitTimeInMs: MAX_WAIT_TIME_MS,
    allowAutoTopicCreation: false,
  })
  const member = { index, consumer, memberId: null, assignment: [], joins: 0, records: [], crash: null }
  consumer.on(consumer.events.GROUP_JOIN, event => {
    member.memberId = event.payload.memberId
    member.assignment = (event.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
    member.joins += 1
  })
  consumer.on(consumer.events.CRASH, event => {
    member.crash = event.payload.error
  })
  return member
}

/** True once every member holds a non-empty share and the shares partition the topic. */
function sharesCoverTopic() {
  const held = members.flatMap(member => member.assignment)
  const distinct = new Set(held)
  return (
    members.every(member => member.assignment.length > 0) &&
    held.length === settings.partitions &&
    distinct.size === settings.partitions
  )
}

async function waitUntil(condition) {
  while (!condition()) {
    const crashed = members.find(member => member.crash)
    if (crashed) throw crashed.crash
    await sleep(ASSIGNMENT_POLL_MS)
  }
}

async function produce(kafka) {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  try {
    const messages = []
    for (let index = 0; index < settings.produceAfterJoin; index++) {
      messages.push({ value: `${settings.prefix}-${index}`, partition: index % settings.partitions })
    }
    await producer.send({ topic, messages, acks: -1 })
  } finally {
    await producer.disconnect()
  }
}

async function describe(kafka) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const described = await admin.describeGroups([settings.groupId])
    const listed = await admin.listGroups()
    return { described, listed }
  } finally {
    await admin.disconnect()
  }
}

const received = () => members.reduce((sum, member) => sum + member.records.length, 0)

const main = async () => {
  const kafka = newKafka(bootstrap, 'kafkajs-group')
  for (let index = 0; index < settings.consumers; index++) {
    members.push(newMember(kafka, index))
  }
  let views = { described: null, listed: null }
  try {
    await Promise.all(members.map(member => member.consumer.connect()))
    for (const member of members) {
      await member.consumer.subscribe({ topics: [topic], fromBeginning: true })
      await member.consumer.run({
        eachMessage: async ({ partition, message }) => {
          member.records.push(recordJson(partition, message))
        },
      })
    }
    await waitUntil(sharesCoverTopic)
    if (settings.describe) views = await describe(kafka)
    if (settings.produceAfterJoin > 0) await produce(kafka)
    await waitUntil(() => received() >= settings.expected)
    await sleep(settings.settleMs)
  } finally {
    await Promise.all(members.map(member => member.consumer.disconnect()))
  }
  return {
    members: members.map(({ memberId, assignment, joins, records }) => ({
      memberId,
      assignment,
      joins,
      records,
    })),
    ...views,
  }
}

run(main, settings.deadlineMs, () => ({
  received: received(),
  assignments: members.map(member => member.assignment),
}))
