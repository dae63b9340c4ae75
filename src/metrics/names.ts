/**
 * What the metrics of every Trent process share: the latency buckets and the content
 * type of the Prometheus text format (version 0.0.4).
 *
 * @module
 */
import { prometheusContentType } from 'prom-client'

/**
 * Seconds. A symmetric operation answers in well under a millisecond of work; an RSA 4096
 * CreateKey takes about a second; anything past ten is waiting on something.
 */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

export const PROMETHEUS_CONTENT_TYPE: string = prometheusContentType
