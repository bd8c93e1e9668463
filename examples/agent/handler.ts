/**
 * An example agent for `agent-worker`: two LLM steps (plan, then answer) against any
 * OpenAI-compatible chat completions endpoint, with a checkpoint between the steps so a task
 * interrupted after planning resumes at the answer on whichever pod receives it next.
 *
 * Settings (env):
 * - `LLM_BASE_URL`: the API base, e.g. `https://api.openai.com/v1` or a local gateway. Required.
 * - `LLM_API_KEY`: sent as a bearer token when set (from a Secret).
 * - `LLM_MODEL`: model name. Default `gpt-4o-mini`.
 *
 * Task input: `{ "question": string }`. Output: `{ plan, answer }`.
 *
 * Run it: `AGENT_HANDLER=dist/examples/agent/handler.js TASK_QUEUE_URL=amqp://… agent-worker`.
 */
import { PermanentError, type TaskContext } from '@agent-fleet/worker';

interface Input {
  readonly question: string;
}

interface State {
  readonly plan?: string;
}

interface ChatResponse {
  readonly model?: string;
  readonly choices?: ReadonlyArray<{ readonly message?: { readonly content?: string | null } }>;
  readonly usage?: {
    readonly prompt_tokens?: number;
    readonly completion_tokens?: number;
    readonly total_tokens?: number;
  };
}

async function chat(system: string, user: string, ctx: TaskContext<State>): Promise<string> {
  const base = process.env.LLM_BASE_URL;
  if (!base) {
    throw new PermanentError(
      'LLM_BASE_URL is not set: point it at an OpenAI-compatible API, e.g. https://api.openai.com/v1',
    );
  }
  const model = process.env.LLM_MODEL ?? 'gpt-4o-mini';
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (process.env.LLM_API_KEY) {
    headers.authorization = `Bearer ${process.env.LLM_API_KEY}`;
  }
  const response = await fetch(`${base.replace(/\/+$/, '')}/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
    }),
    // Shutdown aborts the call; the task is requeued and resumes from the last checkpoint.
    signal: ctx.signal,
  });
  if (!response.ok) {
    const text = (await response.text()).slice(0, 200);
    // 429 and 5xx may pass; other 4xx mean the request itself is wrong and retrying cannot help.
    if (response.status === 429 || response.status >= 500) {
      throw new Error(`LLM endpoint answered ${response.status}: ${text}`);
    }
    throw new PermanentError(`LLM endpoint refused the request (${response.status}): ${text}`);
  }
  const body = (await response.json()) as ChatResponse;
  const usage = body.usage;
  const tokens = usage?.total_tokens ?? (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0);
  ctx.recordTokens(body.model ?? model, tokens);
  const content = body.choices?.[0]?.message?.content;
  if (typeof content !== 'string') {
    throw new Error('LLM response has no choices[0].message.content');
  }
  return content;
}

export default async function handler(
  input: Input,
  ctx: TaskContext<State>,
): Promise<{ plan: string; answer: string }> {
  if (typeof input?.question !== 'string' || input.question === '') {
    throw new PermanentError('input.question must be a non-empty string');
  }
  let plan = ctx.state?.plan;
  if (plan === undefined) {
    plan = await chat(
      'Write a short numbered plan to answer the question. Do not answer it yet.',
      input.question,
      ctx,
    );
    await ctx.checkpoint({ plan });
    ctx.log.info({ step: 'plan' }, 'plan ready');
  } else {
    ctx.log.info({ step: 'plan' }, 'resuming with the checkpointed plan');
  }
  const answer = await chat(
    `Follow this plan and answer the question.\n\nPlan:\n${plan}`,
    input.question,
    ctx,
  );
  return { plan, answer };
}
