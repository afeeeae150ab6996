// Produces numbered text messages with a kafkajs producer and prints every acknowledgement:
//   node produce.js <bootstrap> <topic> '<json options>'
// Options: count (messages), sendSize (messages per send() call), acks (-1, 1 or 0),
// compression ("gzip" or absent), idempotent (bool), keys (number of distinct keys; 0 = no
// key), spread (0 = kafkajs's partitioner picks; n = message i goes to partition i mod n),
// prefix (value prefix), deadlineMs. Message i has value "<prefix>-<i>" and, with keys, key
// "key-<i mod keys>". Sends are sequential, so per partition the order of values is the order
// of i. Output: {sends: [{first, last, acks: [{partition, baseOffset, errorCode}]}]}.
'use strict'

const { CompressionTypes, Partitioners } = require('kafkajs')
const { newKafka, parseArgs, run } = require('./common')

const COMPRESSION = { gzip: CompressionTypes.GZIP }

function message(index, options) {
  const value = `${options.prefix}-${index}`
  const keyed = options.keys > 0 ? { key: `key-${index % options.keys}`, value } : { value }
  return options.spread > 0 ? { ...keyed, partition: index % options.spread } : keyed
}

const { bootstrap, topic, options } = parseArgs(['bootstrap', 'topic'])
const sends = []

const main = async () => {
  const settings = { prefix: 'm', keys: 0, spread: 0, sendSize: 100, acks: -1, idempotent: false, ...options }
  if (settings.compression && !COMPRESSION[settings.compression]) {
    throw new Error(`unsupported compression ${settings.compression}`)
  }
  const producer = newKafka(bootstrap, 'kafkajs-producer').producer({
    idempotent: settings.idempotent,
    // kafkajs requires one request in flight for idempotence; keep it for all modes so
    // sends, and therefore per-partition order, are strictly sequential.
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // kafkajs 2's default (Java-compatible murmur2), named to silence its warning about it.
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  try {
    for (let first = 0; first < settings.count; first += settings.sendSize) {
      const last = Math.min(first + settings.sendSize, settings.count) - 1
      const messages = []
      for (let index = first; index <= last; index++) {
        messages.push(message(index, settings))
      }
      const metadata = await producer.send({
        topic,
        messages,
        acks: settings.acks,
        compression: COMPRESSION[settings.compression],
      })
      sends.push({
        first,
        last,
        acks: metadata.map(({ partition, baseOffset, errorCode }) => ({
          partition,
          baseOffset: Number(baseOffset),
          errorCode,
        })),
      })
    }
  } finally {
    await producer.disconnect()
  }
  return { sends }
}

run(main, options.deadlineMs, () => ({ sendsDone: sends.length }))
