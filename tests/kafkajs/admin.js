// One kafkajs admin call, its result printed as JSON:
//   node admin.js <bootstrap> <operation> '<json arguments>'
// Operations: createTopics, listTopics, fetchTopicMetadata, fetchTopicOffsets,
// fetchTopicOffsetsByTimestamp, createPartitions, describeConfigs, alterConfigs, deleteTopics,
// fetchOffsets, resetOffsets, describeGroups, listGroups, deleteGroups, describeCluster. The
// arguments are those of the kafkajs admin method of the same name, as one object
// (describeGroups and deleteGroups take {groupIds}, fetchTopicOffsets {topic},
// fetchTopicOffsetsByTimestamp {topic, timestamp}).
'use strict'

const { newKafka, parseArgs, run } = require('./common')

const OPERATIONS = {
  createTopics: (admin, args) => admin.createTopics(args),
  listTopics: admin => admin.listTopics(),
  fetchTopicMetadata: (admin, args) => admin.fetchTopicMetadata(args),
  fetchTopicOffsets: (admin, args) => admin.fetchTopicOffsets(args.topic),
  fetchTopicOffsetsByTimestamp: (admin, args) =>
    admin.fetchTopicOffsetsByTimestamp(args.topic, args.timestamp),
  createPartitions: (admin, args) => admin.createPartitions(args),
  describeConfigs: (admin, args) => admin.describeConfigs(args),
  alterConfigs: (admin, args) => admin.alterConfigs(args),
  deleteGroups: (admin, args) => admin.deleteGroups(args.groupIds),
  deleteTopics: (admin, args) => admin.deleteTopics(args),
  fetchOffsets: (admin, args) => admin.fetchOffsets(args),
  resetOffsets: (admin, args) => admin.resetOffsets(args),
  describeGroups: (admin, args) => admin.describeGroups(args.groupIds),
  listGroups: admin => admin.listGroups(),
  describeCluster: admin => admin.describeCluster(),
}

const { bootstrap, operation, options } = parseArgs(['bootstrap', 'operation'])

const main = async () => {
  const call = OPERATIONS[operation]
  if (!call) {
    throw new Error(`unknown operation ${operation}; known: ${Object.keys(OPERATIONS).join(', ')}`)
  }
  const admin = newKafka(bootstrap, 'kafkajs-admin').admin()
  await admin.connect()
  try {
    const result = await call(admin, options)
    return { result: result === undefined ? null : result }
  } finally {
    await admin.disconnect()
  }
}

run(main)
