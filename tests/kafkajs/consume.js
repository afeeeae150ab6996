// Reads a topic from the beginning with one kafkajs consumer in a fresh group and prints every
// record:  node consume.js <bootstrap> <topic> '<json options>'
// Options: groupId, expected (records to wait for), settleMs (how long to keep reading after
// that, so extra records show up as a failure instead of going unseen), deadlineMs.
// Output: {records: [{partition, offset, key, value}], assignment: [partitions]}.
'use strict'

const { newKafka, parseArgs, recordJson, run, sleep } = require('./common')

const DEFAULT_SETTLE_MS = 300
// Fast group operations: the broker under test is local.
const HEARTBEAT_INTERVAL_MS = 500
const SESSION_TIMEOUT_MS = 10000
// Bounds how long disconnect() waits for the fetch in flight (kafkajs's default is 5 s).
const MAX_WAIT_TIME_MS = 200

const { bootstrap, topic, options } = parseArgs(['bootstrap', 'topic'])
const records = []

const main = async () => {
  const settleMs = options.settleMs === undefined ? DEFAULT_SETTLE_MS : options.settleMs
  const consumer = newKafka(bootstrap, 'kafkajs-consumer').consumer({
    groupId: options.groupId,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    sessionTimeout: SESSION_TIMEOUT_MS,
    maxWaitTimeInMs: MAX_WAIT_TIME_MS,
    allowAutoTopicCreation: false,
  })
  let assignment = []
  consumer.on(consumer.events.GROUP_JOIN, event => {
    assignment = event.payload.memberAssignment[topic] || []
  })
  let crashed = null
  consumer.on(consumer.events.CRASH, event => {
    crashed = event.payload.error
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let reachedExpected
    const done = new Promise(resolve => {
      reachedExpected = resolve
    })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push(recordJson(partition, message))
        if (records.length >= options.expected) reachedExpected()
      },
    })
    await done
    await sleep(settleMs)
  } finally {
    await consumer.disconnect()
  }
  if (crashed) throw crashed
  return { records, assignment }
}

run(main, options.deadlineMs, () => ({ received: records.length }))
