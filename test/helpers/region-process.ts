/**
 * A region as its own OS process, started exactly as the launcher starts it, for tests
 * that kill it.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { KMSClient } from '@aws-sdk/client-kms'
import { TEST_CREDENTIALS } from './in-process-region.js'

const REGION_MAIN = new URL('../../src/region/main.js', import.meta.url)

export interface RegionProcess {
  region: string
  port: number
  child: ChildProcess
  client(): KMSClient
  kill9(): Promise<void>
  stop(): Promise<void>
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

export async function startRegionProcess(options: { region?: string; dataDir: string; port?: number; extraArgs?: string[] }): Promise<RegionProcess> {
  const region = options.region ?? 'us-east-1'
  const child = fork(
    REGION_MAIN,
    ['--region', region, '--data-dir', options.dataDir, '--port', String(options.port ?? 0), ...(options.extraArgs ?? [])],
    {
      env: { ...process.env, TRENT_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, TRENT_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey, TRENT_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  )
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('region did not become ready')), 30_000)
    child.once('exit', (code) => reject(new Error(`region exited early with ${String(code)}`)))
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer)
        resolve(message.port)
      }
    })
  })
  const clients: KMSClient[] = []
  return {
    region,
    port,
    child,
    client() {
      const client = new KMSClient({ region, endpoint: `http://127.0.0.1:${port}`, credentials: TEST_CREDENTIALS, maxAttempts: 1 })
      clients.push(client)
      return client
    },
    async kill9() {
      child.kill('SIGKILL')
      await exited(child)
      for (const c of clients) c.destroy()
    },
    async stop() {
      child.kill('SIGTERM')
      await exited(child)
      for (const c of clients) c.destroy()
    },
  }
}
