// openai_client.mjs — the official `openai` npm client against a live
// `lorc serve` (tests/test_openai_node.sh): completions and chat, streamed
// and not, the base and three real adapters in parallel, per-request
// switching on one client, an adapter loaded and unloaded through the API
// while other requests run, models.list(), and errors as the client's own
// APIError classes. Greedy texts must equal `lorc run --temp 0` with the same
// adapter. The server runs on port 0 and is killed however the test ends;
// any failed check makes the exit status 1.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.LORC_BIN;
const SHARED = process.env.LORC_SHARED;
const TMP_ROOT = process.env.LORC_TEST_TMP || '/tmp';
if (!BIN || !SHARED) {
  console.error('openai_client.mjs: set LORC_BIN and LORC_SHARED');
  process.exit(2);
}
const MODEL = `${SHARED}/models/stories260K.gguf`;
const BASE = 'stories260K';
const AD = `${SHARED}/adapters`;
// Three of the real fine-tunes: GGUF LoRA, PEFT rsLoRA on all projections,
// PEFT with a trained lm_head (modules_to_save).
const ADAPTERS = {
  moon: `${AD}/moon-qv/moon-qv.gguf`,
  ocean: `${AD}/ocean-all/peft`,
  moonhead: `${AD}/moon-head/peft`,
};
const KEY = 'node-sekrit';

let failures = 0;
function check(cond, what) {
  if (!cond) {
    failures++;
    console.error('FAIL:', what);
  }
}

// `lorc run --temp 0`'s continuation of `prompt` (it prints the prompt first).
function runText(prompt, n, adapterPath) {
  const args = ['run', '-m', MODEL, '-p', prompt, '-n', String(n), '--temp', '0', '-t', '1'];
  if (adapterPath) args.push('--lora', adapterPath);
  const out = execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (!out.startsWith(prompt)) throw new Error(`lorc run output does not start with the prompt: ${out}`);
  return out.slice(prompt.length).replace(/\n$/, '');
}

function startServer(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '-t', '2', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('lorc serve did not start in 30 s')), 30000);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      if (buf === null) return; // started: keep draining so the server never blocks
      buf += d;
      const m = buf.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        buf = null;
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lorc serve exited (${code}) before listening: ${buf}`));
    });
  });
}

function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20000);
    proc.removeAllListeners('exit');
    proc.on('exit', (code) => {
      clearTimeout(killer);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

async function completion(client, model, prompt, n) {
  const r = await client.completions.create({ model, prompt, max_tokens: n, temperature: 0 });
  return r;
}

async function streamedCompletion(client, model, prompt, n) {
  const stream = await client.completions.create({ model, prompt, max_tokens: n, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason || finish;
  }
  return { text, finish };
}

async function expectError(promise, status, what) {
  try {
    await promise;
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === status, `${what}: ${e?.constructor?.name} status ${e?.status}, want ${status}`);
    return e;
  }
  return null;
}

async function tests(port, adapterDir) {
  const baseURL = `http://127.0.0.1:${port}/v1`;
  // No retries: a 429 or 5xx must show up, not be papered over.
  const client = new OpenAI({ apiKey: KEY, baseURL, maxRetries: 0, timeout: 120000 });
  const prompt = 'Once upon a time';
  const n = 32;
  const want = { [BASE]: runText(prompt, n, null) };
  for (const [name, path] of Object.entries(ADAPTERS)) want[name] = runText(prompt, n, path);
  check(new Set(Object.values(want)).size === 4, `the three adapters each change the greedy text: ${JSON.stringify(want)}`);

  // models.list(): the base and every adapter, adapters with parent = base.
  const ids = [];
  for await (const m of client.models.list()) ids.push(m);
  check(JSON.stringify(ids.map((m) => m.id).sort()) === JSON.stringify([BASE, ...Object.keys(ADAPTERS)].sort()),
    `models.list ids ${ids.map((m) => m.id)}`);
  check(ids.filter((m) => m.id !== BASE).every((m) => m.parent === BASE), 'adapters have parent = base');

  // One at a time, non-streamed and streamed.
  for (const model of Object.keys(want)) {
    const r = await completion(client, model, prompt, n);
    check(r.choices[0].text === want[model], `${model}: ${JSON.stringify(r.choices[0].text)} != lorc run ${JSON.stringify(want[model])}`);
    check(r.object === 'text_completion' && r.model === model && r.choices[0].finish_reason === 'length',
      `${model}: response shape ${JSON.stringify(r)}`);
    check(r.usage.completion_tokens === n && r.usage.total_tokens === r.usage.prompt_tokens + n, `${model}: usage ${JSON.stringify(r.usage)}`);
    const s = await streamedCompletion(client, model, prompt, n);
    check(s.text === want[model] && s.finish === 'length', `${model} streamed: ${JSON.stringify(s)} != ${JSON.stringify(want[model])}`);
  }

  // The base and the three adapters at once, streamed and not.
  const models = Object.keys(want);
  const par = await Promise.all([
    ...models.map((m) => completion(client, m, prompt, n).then((r) => r.choices[0].text)),
    ...models.map((m) => streamedCompletion(client, m, prompt, n).then((s) => s.text)),
  ]);
  par.forEach((text, i) => {
    const m = models[i % models.length];
    check(text === want[m], `parallel #${i} ${m}: ${JSON.stringify(text)} != ${JSON.stringify(want[m])}`);
  });

  // Per-request switching: one client, the model changes every request.
  const order = [BASE, 'moon', BASE, 'ocean', 'moonhead', 'moon', 'ocean', BASE];
  for (const [i, m] of order.entries()) {
    const r = await completion(client, m, prompt, n);
    check(r.choices[0].text === want[m], `switching #${i} ${m}: ${JSON.stringify(r.choices[0].text)}`);
  }

  // Chat, streamed and not: the same reply, and `lorc run` on the rendered
  // chatml prompt (stories260K has no template of its own) gives it too.
  const messages = [{ role: 'user', content: 'Tell me a story.' }];
  const chat = await client.chat.completions.create({ model: 'ocean', messages, max_tokens: 24, temperature: 0 });
  const msg = chat.choices[0].message;
  check(chat.object === 'chat.completion' && msg.role === 'assistant' && typeof msg.content === 'string' && msg.content.length > 0,
    `chat: ${JSON.stringify(chat)}`);
  const rendered = '<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n';
  const chatWant = runText(rendered, 24, ADAPTERS.ocean);
  check(msg.content === chatWant, `chat ${JSON.stringify(msg.content)} != lorc run ${JSON.stringify(chatWant)}`);
  const cs = await client.chat.completions.create({ model: 'ocean', messages, max_tokens: 24, temperature: 0, stream: true });
  let chatText = '';
  let role = null;
  for await (const chunk of cs) {
    role = chunk.choices[0]?.delta?.role || role;
    chatText += chunk.choices[0]?.delta?.content || '';
  }
  check(chatText === msg.content && role === 'assistant', `streamed chat ${JSON.stringify(chatText)} (${role}) != ${JSON.stringify(msg.content)}`);

  // Load and unload through the API while other requests run.
  copyFileSync(ADAPTERS.moon, join(adapterDir, 'moon-rt.gguf'));
  const busy = Promise.all([
    streamedCompletion(client, 'ocean', prompt, 200),
    completion(client, BASE, prompt, 200),
    streamedCompletion(client, 'moonhead', prompt, 200),
  ]);
  const loaded = await client.post('/load_lora_adapter', { body: { lora_name: 'rt', lora_path: 'moon-rt.gguf' } });
  check(loaded.status === 'loaded', `load_lora_adapter: ${JSON.stringify(loaded)}`);
  const listed = [];
  for await (const m of client.models.list()) listed.push(m.id);
  check(listed.includes('rt'), `rt in models.list after loading: ${listed}`);
  const [onRt, onRtStreamed] = await Promise.all([
    completion(client, 'rt', prompt, n),
    streamedCompletion(client, 'rt', prompt, n),
  ]);
  check(onRt.choices[0].text === want.moon && onRtStreamed.text === want.moon,
    `rt (a copy of moon loaded at run time): ${JSON.stringify(onRt.choices[0].text)} / ${JSON.stringify(onRtStreamed.text)}`);
  const unloaded = await client.post('/unload_lora_adapter', { body: { lora_name: 'rt' } });
  check(unloaded.status === 'unloaded', `unload_lora_adapter: ${JSON.stringify(unloaded)}`);
  const busyDone = await busy;
  const want200 = [runText(prompt, 200, ADAPTERS.ocean), runText(prompt, 200, null), runText(prompt, 200, ADAPTERS.moonhead)];
  check(busyDone[0].text === want200[0], 'ocean stream during load/unload: its lorc run text');
  check(busyDone[1].choices[0].text === want200[1], 'base during load/unload: its lorc run text');
  check(busyDone[2].text === want200[2], 'moonhead stream during load/unload: its lorc run text');
  await expectError(completion(client, 'rt', prompt, 4), 404, 'completion on unloaded rt');

  // Errors surface as the client's APIError subclasses with the status.
  const e404 = await expectError(completion(client, 'no-such-model', prompt, 4), 404, 'unknown model');
  check(e404 instanceof OpenAI.NotFoundError, 'unknown model is a NotFoundError');
  await expectError(client.chat.completions.create({ model: 'no-such-model', messages }), 404, 'chat unknown model');
  const bad = new OpenAI({ apiKey: 'wrong-key', baseURL, maxRetries: 0 });
  const e401 = await expectError(bad.completions.create({ model: BASE, prompt, max_tokens: 4 }), 401, 'wrong API key');
  check(e401 instanceof OpenAI.AuthenticationError, 'wrong key is an AuthenticationError');
  await expectError(bad.models.list(), 401, 'models.list with a wrong key');
  const e400 = await expectError(client.completions.create({ model: BASE, prompt, max_tokens: 4, n: 2 }), 400, 'n = 2');
  check(e400 instanceof OpenAI.BadRequestError && typeof e400.error?.message === 'string', `400 carries OpenAI's error object: ${JSON.stringify(e400?.error)}`);

  // Still serving correctly after all of that.
  const last = await completion(client, 'moon', prompt, n);
  check(last.choices[0].text === want.moon, 'moon after the error cases');
}

async function main() {
  const adapterDir = mkdtempSync(join(TMP_ROOT, 'openai-node-'));
  const args = ['--parallel', '4', '--api-key', KEY, '--adapter-dir', adapterDir];
  for (const [name, path] of Object.entries(ADAPTERS)) args.push('--lora', `${name}=${path}`);
  let server = null;
  try {
    server = await startServer(args);
    await tests(server.port, adapterDir);
  } catch (e) {
    check(false, `exception: ${e?.stack || e}`);
  } finally {
    if (server) {
      const code = await stopServer(server.proc);
      check(code === 0, `server exit status ${code}`);
    }
    rmSync(adapterDir, { recursive: true, force: true });
  }
  if (failures) {
    console.error(`${failures} failure(s)`);
    process.exit(1);
  }
  console.log('openai_client.mjs: all checks passed');
}

main();
