/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests
 * that scrape Trent's `GET /metrics`. prom-client writes this format but has no parser.
 * Strict: anything the format does not allow is an error naming the line, not skipped:
 * a malformed name, label or value, an unterminated or badly escaped label value, a
 * label repeated in one sample, a second HELP or TYPE for a family or one after its
 * samples, a family whose samples are not together, a sample whose name does not belong
 * to the family its TYPE declared, and the same series twice.
 *
 * @module
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  /** The sample's own name: a histogram's come as `<family>_bucket`, `_sum` and `_count`. */
  name: string
  labels: Readonly<Record<string, string>>
  value: number
}

export interface MetricFamily {
  name: string
  type: MetricType
  help?: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

class ParseError extends Error {
  constructor(lineNumber: number, problem: string, line: string) {
    super(`metrics line ${lineNumber}: ${problem}: ${JSON.stringify(line)}`)
  }
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  // Go's ParseFloat forms: decimal or exponent notation, no hex, no empty string.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

/** Reads `{name="value",...}` from `text` at `start` (at the `{`); returns the labels and where it ended. */
function parseLabels(text: string, start: number, fail: (problem: string) => never): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {}
  let at = start + 1
  for (;;) {
    if (text[at] === '}') return { labels, end: at + 1 }
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(at))
    if (nameMatch === null) fail('expected a label name')
    const name = nameMatch[0]
    at += name.length
    if (text[at] !== '=' || text[at + 1] !== '"') fail(`expected ="..." after label ${name}`)
    at += 2
    let value = ''
    for (;;) {
      const char = text[at]
      if (char === undefined) fail(`unterminated value of label ${name}`)
      if (char === '"') break
      if (char === '\n') fail('raw newline in a label value')
      if (char === '\\') {
        const escaped = text[at + 1]
        if (escaped === '\\') value += '\\'
        else if (escaped === '"') value += '"'
        else if (escaped === 'n') value += '\n'
        else fail(`bad escape \\${escaped ?? ''} in label ${name}`)
        at += 2
        continue
      }
      value += char
      at += 1
    }
    at += 1
    if (Object.hasOwn(labels, name)) fail(`label ${name} given twice`)
    labels[name] = value
    if (text[at] === ',') at += 1
    else if (text[at] !== '}') fail('expected , or } after a label')
  }
}

/** The family a sample name belongs to, given the families whose TYPE has been seen. */
function familyOf(sampleName: string, types: ReadonlyMap<string, MetricType>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue
    const base = sampleName.slice(0, -suffix.length)
    const type = types.get(base)
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base
  }
  return sampleName
}

/** Every family in `text`, by name, in the order they appear. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const types = new Map<string, MetricType>()
  const helps = new Map<string, string>()
  const seriesSeen = new Set<string>()
  const finished = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  lines.forEach((line, index) => {
    // Annotated, not inferred: TypeScript narrows after a call only to a declared `never` function.
    const fail: (problem: string) => never = (problem) => {
      throw new ParseError(index + 1, problem, line)
    }
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const directive = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
      if (directive === null) return // a plain comment
      const [, kind, name = '', rest = ''] = directive
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`)
      if (families.get(name)?.samples.length ?? 0) fail(`${kind} for ${name} after its samples`)
      if (kind === 'HELP') {
        if (helps.has(name)) fail(`second HELP for ${name}`)
        helps.set(name, rest.replaceAll('\\n', '\n').replaceAll('\\\\', '\\'))
      } else {
        if (types.has(name)) fail(`second TYPE for ${name}`)
        if (!TYPES.has(rest.trim())) fail(`unknown type ${rest}`)
        types.set(name, rest.trim() as MetricType)
      }
      return
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (nameMatch === null) fail('expected a metric name')
    const sampleName = nameMatch[0]
    let at = sampleName.length
    let labels: Record<string, string> = {}
    if (line[at] === '{') ({ labels, end: at } = parseLabels(line, at, fail))
    for (const labelName of Object.keys(labels))
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) fail(`reserved or bad label name ${labelName}`)
    const rest = line.slice(at)
    const valueMatch = /^ +(\S+)(?: +(-?\d+))? *$/.exec(rest)
    if (valueMatch === null) fail('expected a value (and an optional timestamp)')
    const value = parseValue(valueMatch[1] ?? '')
    if (value === undefined) fail(`bad value ${valueMatch[1] ?? ''}`)
    const familyName = familyOf(sampleName, types)
    if (familyName !== current) {
      if (current !== undefined) finished.add(current)
      if (finished.has(familyName)) fail(`samples of ${familyName} are not together`)
      current = familyName
    }
    const type = types.get(familyName) ?? 'untyped'
    if (type === 'histogram' && sampleName === `${familyName}_bucket` && labels.le === undefined) fail('histogram bucket without le')
    if (type === 'histogram' && sampleName === familyName) fail(`histogram ${familyName} with a bare sample`)
    if (type === 'counter' && value < 0) fail('negative counter')
    const seriesKey = `${sampleName}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`
    if (seriesSeen.has(seriesKey)) fail('the same series twice')
    seriesSeen.add(seriesKey)
    let family = families.get(familyName)
    if (family === undefined) {
      family = { name: familyName, type, samples: [] }
      const help = helps.get(familyName)
      if (help !== undefined) family.help = help
      families.set(familyName, family)
    }
    family.samples.push({ name: sampleName, labels, value })
  })
  // A family declared with no samples yet (a counter nothing incremented) is still a family.
  for (const [name, type] of types) {
    if (families.has(name)) continue
    const family: MetricFamily = { name, type, samples: [] }
    const help = helps.get(name)
    if (help !== undefined) family.help = help
    families.set(name, family)
  }
  return families
}

/** Whether `labels` has every label of `wanted` with the same value. */
export function hasLabels(labels: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>): boolean {
  return Object.entries(wanted).every(([name, value]) => labels[name] === value)
}

/** The samples named `sampleName` whose labels include `wanted`. */
export function samplesOf(
  families: ReadonlyMap<string, MetricFamily>,
  sampleName: string,
  wanted: Readonly<Record<string, string>> = {},
): Sample[] {
  const family = families.get(sampleName) ?? families.get(sampleName.replace(/_(bucket|sum|count)$/, ''))
  return (family?.samples ?? []).filter((sample) => sample.name === sampleName && hasLabels(sample.labels, wanted))
}

/** The sum of the samples named `sampleName` whose labels include `wanted` (0 if none). */
export function sumOf(
  families: ReadonlyMap<string, MetricFamily>,
  sampleName: string,
  wanted: Readonly<Record<string, string>> = {},
): number {
  return samplesOf(families, sampleName, wanted).reduce((sum, sample) => sum + sample.value, 0)
}

/**
 * Checks every series of a histogram family: buckets in increasing `le` order with
 * non-decreasing counts, a `+Inf` bucket equal to `_count`, a `_sum` and a `_count` for
 * each, and the same bucket bounds in every series. Returns how many series it checked.
 */
export function checkHistogram(family: MetricFamily): number {
  if (family.type !== 'histogram') throw new Error(`${family.name} is a ${family.type}, not a histogram`)
  const seriesKey = (labels: Readonly<Record<string, string>>): string =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([name]) => name !== 'le')
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    )
  const series = new Map<string, { buckets: Array<{ le: number; count: number }>; sum?: number; count?: number }>()
  const entry = (labels: Readonly<Record<string, string>>) => {
    const key = seriesKey(labels)
    let found = series.get(key)
    if (found === undefined) {
      found = { buckets: [] }
      series.set(key, found)
    }
    return found
  }
  for (const sample of family.samples) {
    if (sample.name === `${family.name}_bucket`) {
      const le = parseValue(sample.labels.le ?? '')
      if (le === undefined || Number.isNaN(le)) throw new Error(`${family.name}: bad le ${sample.labels.le ?? ''}`)
      entry(sample.labels).buckets.push({ le, count: sample.value })
    } else if (sample.name === `${family.name}_sum`) entry(sample.labels).sum = sample.value
    else if (sample.name === `${family.name}_count`) entry(sample.labels).count = sample.value
  }
  let bounds: string | undefined
  for (const [key, { buckets, sum, count }] of series) {
    if (sum === undefined || count === undefined) throw new Error(`${family.name}${key}: no _sum or _count`)
    if (!Number.isInteger(count) || count < 0) throw new Error(`${family.name}${key}: _count ${count}`)
    if (count > 0 && !(sum >= 0)) throw new Error(`${family.name}${key}: _sum ${sum} for durations`)
    for (let index = 1; index < buckets.length; index++) {
      const previous = buckets[index - 1]
      const bucket = buckets[index]
      if (previous === undefined || bucket === undefined) continue
      if (!(bucket.le > previous.le)) throw new Error(`${family.name}${key}: le ${bucket.le} after ${previous.le}`)
      if (bucket.count < previous.count)
        throw new Error(`${family.name}${key}: bucket le=${bucket.le} (${bucket.count}) below le=${previous.le} (${previous.count})`)
    }
    const last = buckets.at(-1)
    if (last?.le !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`)
    if (last.count !== count) throw new Error(`${family.name}${key}: +Inf bucket ${last.count} but _count ${count}`)
    const theseBounds = JSON.stringify(buckets.map((b) => b.le))
    bounds ??= theseBounds
    if (theseBounds !== bounds) throw new Error(`${family.name}${key}: bucket bounds differ from the family's other series`)
  }
  return series.size
}
