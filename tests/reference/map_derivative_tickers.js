#!/usr/bin/env node
// tardis-node's own derivative_ticker mapping of replay lines, the reference arbdb is compared with.
//
//   node map_derivative_tickers.js EXCHANGE < replay-lines
//
// Input: replay lines `<28-char local timestamp> <raw JSON>`; an empty line is a websocket
// disconnect, after which the mappers start with clean state (as in tardis-node's replayNormalized).
// Output: one JSON array per line on stdout, in input order:
//   ["row", LINE, exchange, symbol, timestamp, local_timestamp, funding_timestamp, funding_rate,
//    predicted_funding_rate, open_interest, last_price, index_price, mark_price]
// with timestamps in microseconds since the epoch, or
//   ["error", LINE, message]
// when parsing or mapping the line threw (rows the line yielded before the throw are kept).
// Numbers JSON cannot hold are written as the strings "NaN", "Infinity" and "-Infinity"; a missing
// value is null.
'use strict'

const fs = require('fs')
const { normalizeDerivativeTickers } = require('tardis-dev')

const DATE_MESSAGE_SPLIT_INDEX = 28 // as in tardis-node's replay.js

function number(value) {
  if (value === undefined || value === null) return null
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return value
}

// A Date -> microseconds since the epoch; tardis-node keeps the sub-millisecond part in `μs`.
function micros(date) {
  if (date === undefined || date === null) return null
  const ms = date.valueOf()
  if (!Number.isFinite(ms)) return 'NaN'
  return ms * 1000 + (date.μs || 0)
}

function row(lineNo, t) {
  return [
    'row', lineNo, t.exchange, t.symbol, micros(t.timestamp), micros(t.localTimestamp),
    micros(t.fundingTimestamp), number(t.fundingRate), number(t.predictedFundingRate),
    number(t.openInterest), number(t.lastPrice), number(t.indexPrice), number(t.markPrice)
  ]
}

function main() {
  const exchange = process.argv[2]
  const lines = fs.readFileSync(0, 'utf8').split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop() // the final newline
  const out = []
  let mapper
  lines.forEach((line, index) => {
    const lineNo = index + 1
    if (line.length === 0) {
      mapper = undefined // disconnect: fresh mappers for the next connection
      return
    }
    try {
      const localString = line.slice(0, DATE_MESSAGE_SPLIT_INDEX)
      const message = JSON.parse(line.slice(DATE_MESSAGE_SPLIT_INDEX + 1))
      const localTimestamp = new Date(localString)
      localTimestamp.μs = Number(localString.slice(23, 26)) // tardis-node's parseμs
      if (mapper === undefined) mapper = normalizeDerivativeTickers(exchange, localTimestamp)
      if (!mapper.canHandle(message)) return
      for (const ticker of mapper.map(message, localTimestamp)) {
        out.push(JSON.stringify(row(lineNo, ticker)))
      }
    } catch (err) {
      out.push(JSON.stringify(['error', lineNo, String(err && err.message)]))
    }
  })
  process.stdout.write(out.length ? out.join('\n') + '\n' : '')
}

main()
