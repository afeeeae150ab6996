// How fast one kafkajs producer and one kafkajs consumer move messages through a broker (a
// figure for the report, not a test: kafkajs, single-threaded JavaScript, is usually the limit):
//   node throughput.js <bootstrap> <topic> '<json options>'
// Options: count (messages), size (value bytes), sendSize (messages per send()), acks,
// compression ("gzip" or absent), deadlineMs. The topic must exist. Output: producer and
// consumer messages/s and MB/s.
'use strict'

const { CompressionTypes, Partitioners } = require('kafkajs')
const { newKafka, parseArgs, run } = require('./common')

const MAX_WAIT_TIME_MS = 100
const BYTES_PER_MB = 1e6
const MS_PER_S = 1000

const { bootstrap, topic, options } = parseArgs(['bootstrap', 'topic'])
const settings = { count: 100000, size: 100, sendSize: 1000, acks: -1, deadlineMs: 120000, ...options }
let consumed = 0

function rates(count, elapsedMs) {
  const seconds = elapsedMs / MS_PER_S
  return {
    messages: count,
    seconds,
    messagesPerS: Math.round(count / seconds),
    mbPerS: Number(((count * settings.size) / BYTES_PER_MB / seconds).toFixed(2)),
  }
}

async function produce(kafka) {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  const value = Buffer.alloc(settings.size, 'x')
  const compression = settings.compression === 'gzip' ? CompressionTypes.GZIP : undefined
  const started = Date.now()
  for (let sent = 0; sent < settings.count; sent += settings.sendSize) {
    const batch = Math.min(settings.sendSize, settings.count - sent)
    const messages = Array.from({ length: batch }, () => ({ value }))
    await producer.send({ topic, messages, acks: settings.acks, compression })
  }
  const elapsedMs = Date.now() - started
  await producer.disconnect()
  return rates(settings.count, elapsedMs)
}

async function consume(kafka) {
  const consumer = kafka.consumer({
    groupId: `throughput-${Date.now()}`,
    maxWaitTimeInMs: MAX_WAIT_TIME_MS,
    allowAutoTopicCreation: false,
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  // From the moment the group hands out partitions: fetching, decompression and decoding
  // all count (the first eachBatch call comes after the first fetch is decoded).
  let started = null
  consumer.on(consumer.events.GROUP_JOIN, () => {
    started = started || Date.now()
  })
  let finished
  const done = new Promise(resolve => {
    finished = resolve
  })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      consumed += batch.messages.length
      if (consumed >= settings.count) finished(Date.now())
    },
  })
  const ended = await done
  await consumer.disconnect()
  return rates(consumed, ended - started)
}

const main = async () => {
  const kafka = newKafka(bootstrap, 'kafkajs-throughput')
  const producer = await produce(kafka)
  const consumer = await consume(kafka)
  return { settings, producer, consumer }
}

run(main, settings.deadlineMs, () => ({ consumed }))
