// Shared by the kafkajs test scripts: one client configuration with short timeouts (a broker
// bug fails fast with kafkajs's own error instead of hanging), kafkajs's log on stderr, JSON
// results on stdout, and a watchdog that ends the process when a script overruns its deadline.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

// Bounded retries and timeouts: kafkajs's defaults retry for about a minute.
const CONNECTION_TIMEOUT_MS = 3000
const REQUEST_TIMEOUT_MS = 10000
const RETRIES = 3
const INITIAL_RETRY_TIME_MS = 100
const DEFAULT_DEADLINE_MS = 20000
const EXIT_FAILED = 1
const EXIT_USAGE = 2
const EXIT_DEADLINE = 3

// kafkajs's level names, for the log lines written to stderr.
const LEVEL_NAMES = {
  [logLevel.ERROR]: 'ERROR',
  [logLevel.WARN]: 'WARN',
  [logLevel.INFO]: 'INFO',
  [logLevel.DEBUG]: 'DEBUG',
}

/** Log lines as one JSON object each on stderr; stdout carries only the result. */
function stderrLogCreator() {
  return ({ namespace, level, log }) => {
    const { message, ...extra } = log
    process.stderr.write(
      JSON.stringify({ level: LEVEL_NAMES[level], namespace, message, ...extra }) + '\n'
    )
  }
}

/** A kafkajs client for `bootstrap` (host:port); KAFKAJS_LOG_LEVEL=debug shows the protocol. */
function newKafka(bootstrap, clientId) {
  const level = (process.env.KAFKAJS_LOG_LEVEL || 'warn').toUpperCase()
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    retry: { retries: RETRIES, initialRetryTime: INITIAL_RETRY_TIME_MS },
    logLevel: logLevel[level] === undefined ? logLevel.WARN : logLevel[level],
    logCreator: stderrLogCreator,
  })
}

/** argv after the script name: positional arguments, the last one a JSON options object. */
function parseArgs(names) {
  const args = process.argv.slice(2)
  if (args.length !== names.length + 1) {
    process.stderr.write(`usage: node ${process.argv[1]} ${names.join(' ')} '<json options>'\n`)
    process.exit(EXIT_USAGE)
  }
  const parsed = {}
  names.forEach((name, index) => {
    parsed[name] = args[index]
  })
  parsed.options = JSON.parse(args[names.length])
  return parsed
}

/** Prints `result` as one JSON line on stdout and exits 0 once it is written. */
function succeed(result) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

/** Prints the error (kafkajs's name, message, broker error type and details such as the
 * per-group results of a failed deleteGroups) as JSON and exits 1. */
function fail(error) {
  const detail =
    error instanceof Error
      ? { ...error, name: error.name, message: error.message, type: error.type, stack: error.stack }
      : { message: String(error) }
  process.stdout.write(JSON.stringify({ error: detail }) + '\n', () => process.exit(EXIT_FAILED))
}

/** Runs `main` under a deadline: overrunning it prints what `progress()` reports and exits 3. */
function run(main, deadlineMs = DEFAULT_DEADLINE_MS, progress = () => null) {
  const timer = setTimeout(() => {
    const state = JSON.stringify({ error: { name: 'Deadline', deadlineMs, progress: progress() } })
    process.stdout.write(state + '\n', () => process.exit(EXIT_DEADLINE))
  }, deadlineMs)
  main().then(
    result => {
      clearTimeout(timer)
      succeed(result)
    },
    error => {
      clearTimeout(timer)
      fail(error)
    }
  )
}

/** Resolves after `ms` milliseconds. */
function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** A record as JSON: key and value as strings (the tests produce UTF-8 text only). */
function recordJson(partition, message) {
  return {
    partition,
    offset: Number(message.offset),
    key: message.key === null ? null : message.key.toString(),
    value: message.value === null ? null : message.value.toString(),
  }
}

module.exports = { newKafka, parseArgs, run, sleep, recordJson }
