'use strict';
/*
 * mp-policy JavaScript selector worker.
 *
 * One file on purpose (about 600 lines): node runs it under the permission model with read access to
 * this file alone (--allow-fs-read), so it cannot import a sibling module; splitting it would widen that.
 *
 * A persistent node process that runs UNTRUSTED selector scripts and speaks JSON lines on
 * stdin/stdout: it prints {"ready": true, ...} once, then answers every request line with exactly
 * one reply line carrying the request's "id". It has no dependencies.
 *
 * Requests:
 *   {"id", "op": "check", "source"}                          -> {"id", "problems": [{message, line, column}]}
 *   {"id", "op": "call", "hash", "scope"?, "source"?, "ctx", "timeout_ms"}
 *        -> {"id", "kind": "ok", "json": "<the answer as JSON text>", "cached", "retire"?}
 *         | {"id", "kind": "error" | "compile" | "timeout", "detail", "line"?, "column"?, "cached", "retire"?}
 *         | {"id", "kind": "unknown"}        (the script is not loaded here and no source was sent)
 *   A script is loaded once per (hash, scope): the scope is the pool's own key, so two pools that
 *   merely have the same script text each get their own context and module state.
 *   {"id", "op": "ping"}                                     -> {"id", "pong": true}
 *
 * How this process defends itself (the parent adds the outer layers: node's permission model
 * with no file reads but this file, no child processes or workers, code generation from strings
 * disabled process-wide, frozen host intrinsics, no JIT (--jitless), a small V8 heap, an
 * address-space rlimit, an empty environment, a deadline with SIGKILL):
 *
 * - Every script gets its OWN vm context, created without a host "sandbox" object
 *   (vm.constants.DONT_CONTEXTIFY when available, else a null-prototype object), with
 *   codeGeneration {strings: false, wasm: false} (no eval / new Function / WebAssembly) and
 *   microtaskMode 'afterEvaluate' (promise jobs run inside the vm timeout). Pollution of one
 *   context's prototypes cannot reach another script or this worker.
 * - Nothing created by the host is ever handed to a context: its globals (module, exports, a
 *   no-op console, the runner) are made by code evaluated inside it; ctx goes in as a JSON string
 *   primitive parsed by the context's own JSON.parse; the answer comes out as a JSON string made
 *   inside the context. The host only ever reads string/number primitives from a private
 *   null-prototype "mailbox" object the script cannot reach, so no user getter, Proxy trap or
 *   toString ever runs on the host's stack (i.e. outside the timeout).
 * - There is no require, process, Buffer, setTimeout, queueMicrotask or FinalizationRegistry in a
 *   context (FinalizationRegistry callbacks would run later, outside any timeout). Because no
 *   timers exist, a promise still pending after evaluation can never settle: it is reported at once.
 * - Dynamic import() would reject with a HOST error object (a way to the host's prototypes); every
 *   compiled script gets an importModuleDynamically callback that throws an error made inside the
 *   script's own context instead (this is why the parent passes --experimental-vm-modules).
 * - Loading a script (its module body) is bounded by the vm timeout (the parent asks for ~75% of
 *   the call timeout). select() calls are not: a timed vm run costs ~100 µs (node starts a
 *   watchdog thread for each), more than a whole call should; the parent's deadline and SIGKILL
 *   bound them, and the parent restarts the worker. A context whose run broke is thrown away.
 * - The reply channel is fd 1, written only by this file through a reference captured at start;
 *   user code has no handle on it. An answer longer than MAX_ANSWER_CHARS is an error, not a reply.
 *   Unhandled rejections inside contexts are swallowed without being inspected (node would
 *   otherwise format them on the host stack, or exit).
 * - After a call that left many ArrayBuffer bytes behind, the host collects garbage at once, so
 *   the next (innocent) script does not run into the address-space limit.
 * - All contexts share one V8 heap. A script that keeps a large heap in its module state would make
 *   the next script (another pool's) run out of heap, which is fatal to the whole worker. So after
 *   every call whose script left the heap above HEAP_KEEP_BYTES (half the old space, given by the
 *   parent as argv[2]) or more than EXTERNAL_KEEP_BYTES of ArrayBuffers, the host collects garbage;
 *   if that is not enough, the context of the script that just ran is dropped (its state with it);
 *   if even that is not enough, the reply asks the parent to retire this worker. So every call
 *   starts with at least half the heap free, whatever ran before it.
 */

const vm = require('vm');
const v8 = require('v8');
const fs = require('fs');
const util = require('util');

// A private gc() for the host only: turned on just long enough to fetch it from a throwaway
// context, then off again, so no selector context ever has one.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc');
v8.setFlagsFromString('--no-expose-gc');
const getHeapStatistics = v8.getHeapStatistics;

// Captured at start so that nothing later can swap them.
const writeSync = fs.writeSync;
const isProxy = util.types.isProxy;
const isNativeError = util.types.isNativeError;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const hostStringify = JSON.stringify;
const hostParse = JSON.parse;
const now = () => Number(process.hrtime.bigint() / 1000000n);

const SELECTOR_FILE = 'selector.js'; // the file name user code sees in its stack traces
const MAX_SCRIPTS = 32; // compiled scripts (contexts) kept per worker, least recently used dropped
const MAX_ANSWER_CHARS = 256 * 1024; // a longer answer is an error, not a reply-channel flood
const MAX_DETAIL_CHARS = 500;
// ArrayBuffers live outside the V8 heap, under the parent's address-space rlimit. After a call that
// left more than this much of them behind (a buffer bomb), collect at once instead of letting the
// next, innocent call run out of address space.
const EXTERNAL_MEMORY_GC_BYTES = 32 * 1024 * 1024;
// What a script may leave behind between calls (see the header): V8 heap and ArrayBuffer bytes.
const HEAP_KEEP_BYTES = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 32 * 1024 * 1024;
const EXTERNAL_KEEP_BYTES = 64 * 1024 * 1024;
const CONTEXT_OPTIONS = {
  codeGeneration: { strings: false, wasm: false },
  microtaskMode: 'afterEvaluate',
};
const DONT_CONTEXTIFY = vm.constants && vm.constants.DONT_CONTEXTIFY;

// Unhandled rejections from user promises: ignore them without touching the reason or promise.
process.on('unhandledRejection', () => {});

/*
 * The bootstrap, evaluated inside each new context before any user code. It defines the two
 * entry points the host runs (__mpLoad, under a vm timeout, and __mpCall; script-level constants that user
 * code cannot reassign; calling them itself only confuses the script) and hands the private
 * mailbox to the host as the script's completion value, clearing the only name it passed through.
 * Everything it uses is captured before user code runs, so a script that replaces JSON or Promise
 * only confuses itself.
 */
const BOOTSTRAP_SOURCE = `'use strict';
let __mpHandOff;
const [__mpLoad, __mpCall] = (() => {
  const box = Object.create(null);
  __mpHandOff = box;
  const JSONparse = JSON.parse;
  const JSONstringify = JSON.stringify;
  const PromiseResolve = Promise.resolve.bind(Promise);
  const promiseThen = Promise.prototype.then;
  const apply = Reflect.apply;
  const StringOf = String;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const MAX_ANSWER = ${MAX_ANSWER_CHARS};
  const MAX_DETAIL = ${MAX_DETAIL_CHARS};
  const lineRe = /(?:\\(|at )selector\\.js:(\\d+):(\\d+)/;
  const g = globalThis;

  // Globals a selector must not have: callbacks that run outside the timeout, dead weight.
  delete g.FinalizationRegistry;
  delete g.WebAssembly;
  const noop = function () {};
  g.console = Object.freeze({
    log: noop, info: noop, warn: noop, error: noop, debug: noop, trace: noop, dir: noop, table: noop,
    assert: noop, group: noop, groupEnd: noop, time: noop, timeEnd: noop, count: noop,
  });
  const module = { exports: {} };
  g.module = module;
  g.exports = module.exports;

  let select = null;

  function safeString(v) {
    try {
      const s = StringOf(v);
      return typeof s === 'string' ? s : '';
    } catch (e) {
      return '';
    }
  }

  // "TypeError: message" plus the line of the innermost selector frame, in the script's terms.
  function describe(e, prefix) {
    let text = '';
    let line = null;
    let column = null;
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        const name = e.name;
        const message = e.message;
        if (typeof name === 'string' && typeof message === 'string') {
          text = message ? name + ': ' + message : name;
        }
        const stack = e.stack;
        if (typeof stack === 'string') {
          const m = lineRe.exec(stack);
          if (m) {
            line = +m[1];
            column = +m[2];
          }
        }
      }
    } catch (ignored) {
      // a throwing getter: keep what we have
    }
    if (!text) text = 'the selector threw ' + safeString(e);
    if (text.length > MAX_DETAIL) text = text.slice(0, MAX_DETAIL) + '...';
    box.kind = 'error';
    box.detail = prefix ? prefix + text : text;
    box.line = line;
    box.column = column;
  }

  // Functions and symbols are not JSON; JSON.stringify would drop them silently.
  function strict(key, value) {
    const t = typeof value;
    if (t === 'function' || t === 'symbol') throw new TypeErrorCtor('a ' + t + ' cannot be encoded as JSON');
    return value;
  }

  function answer(value) {
    try {
      const json = value === undefined ? 'null' : JSONstringify(value, strict);
      if (typeof json !== 'string') throw new TypeErrorCtor('the answer cannot be encoded as JSON');
      if (json.length > MAX_ANSWER) throw new TypeErrorCtor('the answer is too large (' + json.length + ' characters)');
      box.kind = 'ok';
      box.json = json;
    } catch (e) {
      describe(e, 'the answer is not JSON: ');
    }
  }

  // Runs the compiled module body once, then finds select.
  function load() {
    const main = box.main;
    box.main = undefined;
    box.kind = undefined;
    try {
      apply(main, module.exports, [module.exports, module]);
    } catch (e) {
      describe(e, '');
      return;
    }
    try {
      const ex = module.exports;
      let fn = null;
      if (typeof ex === 'function') fn = ex;
      else if (ex !== null && typeof ex === 'object') {
        if (typeof ex.select === 'function') fn = ex.select;
        else if (typeof ex.default === 'function') fn = ex.default;
        else if (ex.default !== null && typeof ex.default === 'object' && typeof ex.default.select === 'function') {
          fn = ex.default.select;
        }
      }
      if (fn === null) {
        box.kind = 'error';
        box.detail = 'the script exports no select function (module.exports = function select(ctx) {...} ' +
          'or export default function select(ctx) {...})';
        box.line = null;
        return;
      }
      select = fn;
      box.kind = 'ok';
    } catch (e) {
      describe(e, '');
    }
  }

  // One call: parse ctx, call select, settle the answer (promise jobs drain before the host reads box).
  function call() {
    const input = box.input;
    box.input = undefined;
    box.kind = undefined;
    box.json = undefined;
    box.detail = undefined;
    box.line = null;
    box.column = null;
    let result;
    try {
      const ctx = JSONparse(input);
      result = apply(select, undefined, [ctx]);
    } catch (e) {
      describe(e, '');
      return;
    }
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      try {
        apply(promiseThen, PromiseResolve(result), [answer, (e) => describe(e, '')]);
      } catch (e) {
        describe(e, '');
      }
      return;
    }
    answer(result);
  }

  // For the host's import() hook: an error of THIS context, never a host one.
  box.makeError = (message) => new ErrorCtor(message);
  return [load, call];
})();
(() => {
  const box = __mpHandOff;
  __mpHandOff = undefined;
  return box;
})();
`;

const LOAD_SCRIPT = new vm.Script('__mpLoad()', { filename: 'mp-policy:load' });
const CALL_SCRIPT = new vm.Script('__mpCall()', { filename: 'mp-policy:call' });
const BOOTSTRAP_SCRIPT = new vm.Script(BOOTSTRAP_SOURCE, { filename: 'mp-policy:bootstrap' });

// ---------------------------------------------------------------------------------------------
// ESM -> CommonJS, line for line (only statements that start a line; columns may move).

const IDENT = '[A-Za-z_$][\\w$]*';
const RE_DEFAULT_NAMED_FN = new RegExp(
  `^(\\s*)export\\s+default\\s+((?:async\\s+)?function\\s*\\*?\\s*(${IDENT})\\s*\\()`);
const RE_DEFAULT_CLASS = new RegExp(`^(\\s*)export\\s+default\\s+(class\\s+(${IDENT})\\b)`);
const RE_DEFAULT = /^(\s*)export\s+default\s+/;
const RE_NAMED_DECL = new RegExp(
  `^(\\s*)export\\s+((?:async\\s+)?function\\s*\\*?\\s*(${IDENT})` +
  `|class\\s+(${IDENT})|(?:const|let|var)\\s+(${IDENT}))`);
const RE_EXPORT_LIST = /^(\s*)export\s*\{([^}]*)\}\s*;?\s*$/;

/** Rewrites ESM export statements to CommonJS; returns {code, lines} (lines = the user's line count). */
function toCommonJS(source) {
  const lines = source.split('\n');
  const tail = [];
  let changed = false;
  if (lines[0].startsWith('#!')) {
    lines[0] = '//' + lines[0]; // a hashbang is only legal at the start of a file, not a function body
    changed = true;
  }
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    if (!/^\s*export\b/.test(text)) continue;
    let m;
    if ((m = RE_DEFAULT_NAMED_FN.exec(text)) || (m = RE_DEFAULT_CLASS.exec(text))) {
      lines[i] = m[1] + text.slice(m[0].length - m[2].length);
      tail.push(`module.exports = ${m[3]};`);
    } else if ((m = RE_DEFAULT.exec(text))) {
      lines[i] = m[1] + 'module.exports = ' + text.slice(m[0].length);
    } else if ((m = RE_NAMED_DECL.exec(text))) {
      const name = m[3] || m[4] || m[5];
      lines[i] = m[1] + text.slice(m[0].length - m[2].length);
      tail.push(`module.exports.${name} = ${name};`);
    } else if ((m = RE_EXPORT_LIST.exec(text))) {
      lines[i] = m[1];
      for (const part of m[2].split(',')) {
        const spec = part.trim().split(/\s+as\s+/);
        if (!spec[0]) continue;
        const local = spec[0];
        const exported = spec[1] || local;
        tail.push(`module.exports[${hostStringify(exported)}] = ${local};`);
      }
    } else {
      continue; // e.g. "export * from": left alone, the compiler reports it
    }
    changed = true;
  }
  const count = lines.length;
  if (!changed) return { code: source, lines: count };
  return { code: lines.join('\n') + (tail.length ? '\n;' + tail.join(' ') : ''), lines: count };
}

// ---------------------------------------------------------------------------------------------
// Compiling.

/** Compiles the module body as function (exports, module) in `context` (or the host, to check). */
function compile(code, context, importHook) {
  const options = { filename: SELECTOR_FILE };
  if (context) options.parsingContext = context;
  if (importHook) options.importModuleDynamically = importHook;
  return vm.compileFunction(code, ['exports', 'module'], options);
}

/** {message, line, column} of a compile error (no user code has run in its realm yet). */
function syntaxProblem(err, lineCount) {
  let message = 'SyntaxError';
  let line = null;
  let column = null;
  try {
    if (typeof err.name === 'string' && typeof err.message === 'string') message = `${err.name}: ${err.message}`;
    const stack = typeof err.stack === 'string' ? err.stack.split('\n') : [];
    const m = /^selector\.js:(\d+)$/.exec(stack[0] || '');
    if (m) {
      line = +m[1];
      const caret = (stack[2] || '').indexOf('^');
      if (caret >= 0) column = caret + 1;
    }
  } catch (ignored) {
    // keep the defaults
  }
  if (line !== null && line > lineCount) {
    line = lineCount; // an error in the appended export lines belongs to the last user line
    column = null;
  }
  return { message: message.slice(0, MAX_DETAIL_CHARS), line, column };
}

// ---------------------------------------------------------------------------------------------
// Loaded scripts: hash -> {context, box}, least recently used first.

const scripts = new Map();

/** True when `err` is node's own vm timeout error (checked without running any user code). */
function isTimeout(err) {
  if (err === null || typeof err !== 'object' || isProxy(err) || !isNativeError(err)) return false;
  const d = getOwnPropertyDescriptor(err, 'code');
  return d !== undefined && 'value' in d && d.value === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/**
 * Runs one entry script in the context; returns null, or an error reply when it did not finish.
 * With a deadline the run is bounded by a vm timeout; without one (select() calls: node starts a
 * watchdog thread per timed run, ~100 µs, more than the whole call should cost) the parent's
 * deadline and SIGKILL bound it, and the parent restarts the worker.
 */
function runEntry(script, context, deadline) {
  const timeout = deadline === null ? null : Math.max(1, deadline - now());
  try {
    if (timeout === null) script.runInContext(context, { displayErrors: false });
    else script.runInContext(context, { timeout, displayErrors: false });
    return null;
  } catch (err) {
    if (isTimeout(err)) {
      return { kind: 'timeout', detail: `the selector did not answer in time (stopped after ${timeout} ms)` };
    }
    return { kind: 'error', detail: 'the selector broke out of its runner' };
  }
}

/** Reads the mailbox after a run: only primitives, checked by type. */
function readBox(box) {
  const kind = box.kind;
  if (kind === 'ok') {
    const json = box.json;
    return typeof json === 'string' ? { kind: 'ok', json } : { kind: 'ok' };
  }
  if (kind === 'error') {
    const detail = typeof box.detail === 'string' ? box.detail.slice(0, MAX_DETAIL_CHARS) : 'the selector failed';
    const reply = { kind: 'error', detail };
    const line = box.line;
    if (typeof line === 'number' && Number.isInteger(line) && line > 0) reply.line = line;
    return reply;
  }
  return null;
}

/** Creates the context for `source`, compiles and loads it; returns {entry} or {reply}. */
function loadScript(hash, source, deadline) {
  const { code, lines } = toCommonJS(source);
  // No host "sandbox" object behind the global (a null-prototype one on node versions without the constant).
  const globalTemplate = DONT_CONTEXTIFY !== undefined ? DONT_CONTEXTIFY : Object.create(null);
  const context = vm.createContext(globalTemplate, CONTEXT_OPTIONS);
  const box = BOOTSTRAP_SCRIPT.runInContext(context);
  const makeError = box.makeError;
  // import() must reject with an error of THIS context, never a host one.
  const importHook = () => {
    throw makeError('import() is not available in a selector');
  };
  let main;
  try {
    main = compile(code, context, importHook);
  } catch (err) {
    const p = syntaxProblem(err, lines);
    const reply = { kind: 'compile', detail: p.message };
    if (p.line !== null) reply.line = p.line;
    if (p.column !== null) reply.column = p.column;
    return { reply };
  }
  box.main = main;
  const stopped = runEntry(LOAD_SCRIPT, context, deadline);
  if (stopped) return { reply: stopped };
  const status = readBox(box);
  if (status === null || status.kind !== 'ok') {
    const reply = status || { kind: 'error', detail: 'the script did not load' };
    if (reply.line !== undefined && reply.line > lines) delete reply.line;
    return { reply };
  }
  const entry = { context, box, lines };
  scripts.set(hash, entry);
  while (scripts.size > MAX_SCRIPTS) scripts.delete(scripts.keys().next().value);
  return { entry };
}

/** The key a script's context is kept under: its hash, and the scope of the pool that runs it. */
function scriptKey(req) {
  const scope = typeof req.scope === 'string' ? req.scope : '';
  return scope ? String(req.hash) + '/' + scope : String(req.hash);
}

function opCall(req) {
  const deadline = now() + Math.max(1, Number(req.timeout_ms) || 1000);
  const hash = scriptKey(req);
  let entry = scripts.get(hash);
  if (entry !== undefined) {
    scripts.delete(hash); // move to the most recently used end
    scripts.set(hash, entry);
  } else {
    if (typeof req.source !== 'string') return { kind: 'unknown' };
    const loaded = loadScript(hash, req.source, deadline);
    if (loaded.reply) return { ...loaded.reply, cached: false };
    entry = loaded.entry;
  }
  const { context, box } = entry;
  box.input = typeof req.ctx === 'string' ? req.ctx : 'null';
  const stopped = runEntry(CALL_SCRIPT, context, null);
  if (stopped) {
    scripts.delete(hash); // its state is unknown: start it afresh next time
    return { ...stopped, cached: false };
  }
  const status = readBox(box);
  if (status === null) {
    const detail = 'select() returned a promise that never settles (there are no timers in a selector)';
    return { kind: 'error', detail, cached: true };
  }
  if (status.line !== undefined && status.line > entry.lines) delete status.line;
  if (status.kind === 'ok' && status.json === undefined) {
    return { kind: 'error', detail: 'the answer cannot be encoded as JSON', cached: true };
  }
  return { ...status, cached: true };
}

function opCheck(req) {
  if (typeof req.source !== 'string') return { problems: [{ message: 'no source', line: null, column: null }] };
  const { code, lines } = toCommonJS(req.source);
  try {
    compile(code, null, null);
    return { problems: [] };
  } catch (err) {
    return { problems: [syntaxProblem(err, lines)] };
  }
}

// ---------------------------------------------------------------------------------------------
// The reply channel.

function send(message) {
  const data = Buffer.from(hostStringify(message) + '\n', 'utf8');
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(1, data, offset, data.length - offset);
    } catch (err) {
      if (err && err.code === 'EAGAIN') continue;
      throw err;
    }
  }
}

function handle(line) {
  let req;
  try {
    req = hostParse(line);
  } catch (err) {
    send({ id: null, kind: 'error', detail: 'the request is not JSON' });
    return;
  }
  const id = req !== null && typeof req === 'object' ? req.id : null;
  let reply;
  try {
    if (req.op === 'call') {
      reply = opCall(req);
      const relief = relieve(scriptKey(req));
      if (relief === 'dropped') reply = { ...reply, cached: false };
      else if (relief === 'retire') reply = { ...reply, cached: false, retire: true };
    } else if (req.op === 'check') reply = opCheck(req);
    else if (req.op === 'ping') reply = { pong: true };
    else reply = { kind: 'error', detail: `unknown op ${String(req.op)}` };
  } catch (err) {
    reply = { kind: 'error', detail: 'the worker failed' };
  }
  send({ ...reply, id });
  tidy();
}

/** True when the heap or the ArrayBuffers hold more than a script may leave behind. */
function overweight() {
  const stats = getHeapStatistics();
  return stats.used_heap_size > HEAP_KEEP_BYTES || stats.external_memory > EXTERNAL_KEEP_BYTES;
}

/**
 * After a call: 'kept' when the heap is light enough for the next script (perhaps after collecting
 * garbage), 'dropped' when the context of the script that just ran had to go, 'retire' when even
 * that did not help (the parent then replaces this worker).
 */
function relieve(key) {
  try {
    if (!overweight()) return 'kept';
    collectGarbage();
    if (!overweight()) return 'kept';
    scripts.delete(key);
    collectGarbage();
    return overweight() ? 'retire' : 'dropped';
  } catch (ignored) {
    return 'retire';
  }
}

/** Collects garbage when a call left many ArrayBuffer bytes behind (after the reply: off the clock). */
function tidy() {
  try {
    if (getHeapStatistics().external_memory > EXTERNAL_MEMORY_GC_BYTES) collectGarbage();
  } catch (ignored) {
    // never fatal
  }
}

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line.trim()) handle(line);
  }
});
process.stdin.on('end', () => process.exit(0));

send({ ready: true, node: process.version, pid: process.pid });
