/**
 * AGENT_MAX_MESSAGE_BYTES (the broker's max_message_size) and the refusal of checkpoint
 * directories on kernel file systems.
 */
import { Defaults, Env } from '@agent-fleet/contract';
import {
  kernelFileSystemOf,
  MAX_MAX_MESSAGE_BYTES,
  MIN_MAX_MESSAGE_BYTES,
  resolveOptions,
} from '../src/config';
import { ConfigError } from '../src/errors';

const BASE = { [Env.TASK_QUEUE_URL]: 'amqp://user:pw@rabbit:5672/' };

function problems(env: Record<string, string>): ConfigError['problems'] {
  try {
    resolveOptions({}, { ...BASE, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

test("AGENT_MAX_MESSAGE_BYTES defaults to RabbitMQ's 128 MiB and takes whole numbers in range", () => {
  expect(Defaults.maxMessageBytes).toBe(128 * 1024 * 1024);
  expect(resolveOptions({}, BASE).maxMessageBytes).toBe(Defaults.maxMessageBytes);
  expect(resolveOptions({}, { ...BASE, [Env.AGENT_MAX_MESSAGE_BYTES]: '16777216' }).maxMessageBytes).toBe(
    16_777_216,
  );
  expect(resolveOptions({ maxMessageBytes: 8192 }, BASE).maxMessageBytes).toBe(8192);
  for (const value of [
    '1.5',
    'lots',
    '-1',
    String(MIN_MAX_MESSAGE_BYTES - 1),
    String(MAX_MAX_MESSAGE_BYTES + 1),
  ]) {
    const [problem] = problems({ [Env.AGENT_MAX_MESSAGE_BYTES]: value });
    expect(problem).toMatchObject({ variable: Env.AGENT_MAX_MESSAGE_BYTES, value });
    expect(problem.message).toMatch(/max_message_size in bytes/);
  }
});

test('CHECKPOINT_DIR under /proc or /sys is a configuration problem naming the variable', () => {
  for (const dir of ['/proc', '/proc/self/agent-checkpoints', '/sys/fs/cgroup/x', '/proc/../proc/1']) {
    const [problem] = problems({ [Env.CHECKPOINT_DIR]: dir });
    expect(problem).toMatchObject({ variable: Env.CHECKPOINT_DIR, value: dir });
    expect(problem.message).toMatch(/lies under \/(proc|sys), a kernel file system/);
  }
  for (const dir of ['/checkpoints', '/procedures', '/system/ckpt', '/mnt/proc']) {
    expect(kernelFileSystemOf(dir)).toBeUndefined();
    expect(problems({ [Env.CHECKPOINT_DIR]: dir })).toEqual([]);
  }
});
