/**
 * A throwaway RabbitMQ for the worker's tests, from Debian's `rabbitmq-server` package: its own
 * node name, free loopback ports for AMQP, distribution and epmd, data, logs and config in a temp
 * directory, run as the `rabbitmq` user, no plugins (no management UI). Installs the package
 * when it is missing and we are root. Set RABBITMQ_URL to use an existing broker instead.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { freePort } from './ports';

const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface StartRabbitOptions {
  /**
   * Broker-wide `consumer_timeout` in ms (rabbitmq.conf): how long a delivery may stay unacked
   * before the broker closes the channel. Tests of long tasks start a broker with a low one.
   * @default - RabbitMQ's own (30 minutes)
   */
  readonly consumerTimeoutMs?: number;
  /** How long to wait for the broker to accept AMQP connections. @default 90 s */
  readonly startTimeoutMs?: number;
}

export interface TestRabbit {
  /** amqp://agent:<password>@127.0.0.1:<port>/ */
  readonly url: string;
  /** The generated password, so tests can check it never reaches a log line. */
  readonly password: string;
  stop(): Promise<void>;
  /** Stops the broker process but keeps its data, port and credentials (a broker outage). */
  pause(): Promise<void>;
  /** Starts a paused broker again with the same data; resolves once it accepts connections. */
  resume(): Promise<void>;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Installs Debian's rabbitmq-server without letting the package start its system service. */
export function ensureRabbitInstalled(): void {
  if (existsSync(SERVER_SCRIPT)) {
    return;
  }
  if (!isRoot()) {
    throw new Error(
      'rabbitmq-server is not installed and we are not root: run `apt-get install -y rabbitmq-server`, or set RABBITMQ_URL',
    );
  }
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) {
    // Exit 101 = "action forbidden": invoke-rc.d then does not start the service after install.
    writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  }
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'rabbitmq-server'], { stdio: 'inherit', env });
  } finally {
    if (!hadPolicy) {
      rmSync(policy, { force: true });
    }
  }
}

function rabbitIds(): { uid: number; gid: number } | undefined {
  if (!isRoot()) {
    return undefined;
  }
  const uid = Number(execFileSync('id', ['-u', 'rabbitmq']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'rabbitmq']).toString().trim());
  return { uid, gid };
}

async function canConnect(url: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url);
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

export async function startRabbit(options: StartRabbitOptions = {}): Promise<TestRabbit> {
  ensureRabbitInstalled();
  const [amqpPort, distPort, epmdPort] = await distinctFreePorts(3);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-rabbit-'));
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const nodeName = `agentfleet${randomBytes(4).toString('hex')}@localhost`;
  const conf = [
    `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
    'default_user = agent',
    `default_pass = ${password}`,
    'loopback_users = none',
    'log.file.level = warning',
    'log.console = false',
    ...(options.consumerTimeoutMs !== undefined ? [`consumer_timeout = ${options.consumerTimeoutMs}`] : []),
  ];
  writeFileSync(path.join(dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
  // The broker checks consumer timeouts on its channel tick (60 s by default); tick as often as
  // the timeout so a low consumer_timeout fires promptly.
  const tickMs =
    options.consumerTimeoutMs !== undefined ? Math.min(options.consumerTimeoutMs, 1000) : undefined;
  writeFileSync(
    path.join(dir, 'advanced.config'),
    tickMs !== undefined ? `[{rabbit, [{channel_tick_interval, ${tickMs}}]}].\n` : '[].\n',
  );
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  const ids = rabbitIds();
  if (ids) {
    execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
    chownSync(dir, ids.uid, ids.gid);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: dir,
    LANG: 'C.UTF-8',
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const killEpmd = () => {
    spawnSync('epmd', ['-kill'], { env: { ...env }, stdio: 'ignore' });
  };
  let child: ReturnType<typeof spawn>;
  let pid = 0;
  let exited = true;
  const killNow = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
    killEpmd();
  };
  process.on('exit', killNow);
  const url = `amqp://agent:${password}@127.0.0.1:${amqpPort}/`;

  const launch = async () => {
    const out = openSync(path.join(dir, 'server.out'), 'a');
    child = spawn(SERVER_SCRIPT, [], {
      cwd: dir,
      env,
      detached: true,
      stdio: ['ignore', out, out],
      ...(ids ?? {}),
    });
    pid = child.pid!;
    exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
    while (!(await canConnect(url))) {
      if (exited || Date.now() > deadline) {
        const log = existsSync(path.join(dir, 'server.out'))
          ? readFileSync(path.join(dir, 'server.out'), 'utf8')
          : '';
        killNow();
        throw new Error(
          `RabbitMQ did not start (${exited ? 'exited' : 'timed out'}); output:\n${log.slice(-3000)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const halt = async () => {
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // gone
      }
      const timer = setTimeout(() => killNow(), 15_000);
      await gone;
      clearTimeout(timer);
    }
    killEpmd();
  };
  await launch();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await halt();
      process.off('exit', killNow);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  return { url, password, stop, pause: halt, resume: launch };
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    ports.add(await freePort());
  }
  return [...ports];
}

/** The password in an AMQP URL (for the no-secret-in-logs checks). */
export function passwordOf(url: string): string {
  return decodeURIComponent(new URL(url).password);
}

/** The broker of one test file: the one RABBITMQ_URL names, else a throwaway one started here. */
export interface FileBroker {
  readonly url: string;
  readonly password: string;
  /** Stops the broker if this file started it. */
  stop(): Promise<void>;
}

export async function brokerForTestFile(): Promise<FileBroker> {
  const existing = process.env.RABBITMQ_URL;
  if (existing) {
    return { url: existing, password: passwordOf(existing), stop: async () => undefined };
  }
  const rabbit = await startRabbit();
  return { url: rabbit.url, password: rabbit.password, stop: () => rabbit.stop() };
}
