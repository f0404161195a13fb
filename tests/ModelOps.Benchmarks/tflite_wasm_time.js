#!/usr/bin/env node
// Times TFLite's own interpreter (the WASM build in @tensorflow/tfjs-tflite, single-threaded, as installed by
// ../shared/validators/setup_validators.sh) on one .tflite: loads it once, warms up, then times each of RUNS
// invocations inside this process, so node start-up and model load are not in the figures.
//
//   node tflite_wasm_time.js MODEL.tflite RUNS [INPUT0.raw]
//
// INPUT0.raw: the bytes of input 0 (int8 / uint8 inputs); other inputs, or all without a file, are zeros.
// Prints one JSON line: {"simd", "load_ms", "warmup", "runs_ms": [...], "cpu_ms": [...], "median_ms", "min_ms", "median_cpu_ms"}.
// The package is looked up in TFJS_TFLITE_DIR, else $VALIDATORS_DIR/tfjs-tflite, else ~/.cache/modelops-validators/tfjs-tflite.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const vm = require('vm');
const { createRequire } = require('module');

const [modelPath, runsArg, inputPath] = process.argv.slice(2);
if (!modelPath || !runsArg) {
  console.error('usage: tflite_wasm_time.js MODEL.tflite RUNS [INPUT0.raw]');
  process.exit(2);
}
const runs = Math.max(1, parseInt(runsArg, 10));
const warmup = Math.min(5, runs);

const installDir = process.env.TFJS_TFLITE_DIR
  || path.join(process.env.VALIDATORS_DIR || path.join(os.homedir(), '.cache', 'modelops-validators'), 'tfjs-tflite');
const requireFromInstall = createRequire(path.join(installDir, 'package.json'));
const wasmDir = path.join(path.dirname(requireFromInstall.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm') + path.sep;

// The package targets browsers and web workers. Give its Emscripten loader what it looks for: a global `self`,
// a `location`, and an `importScripts` that evaluates the loader from disk and hands it the .wasm bytes directly.
globalThis.self = globalThis;
globalThis.location = { origin: 'file://', href: 'file://' + wasmDir };
globalThis.importScripts = (url) => {
  const file = url.replace(/^file:\/\//, '');
  vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
  const factory = globalThis.tflite_web_api_ModuleFactory;
  if (factory && !factory.wrappedForNode) {
    const wasmBinary = fs.readFileSync(file.replace(/\.js$/, '.wasm'));
    const wrapped = (options) => factory({ ...(options || {}), wasmBinary, print: () => {}, printErr: (s) => process.stderr.write(s + '\n') });
    wrapped.wrappedForNode = true;
    globalThis.tflite_web_api_ModuleFactory = wrapped;
  }
};

// Without MessageChannel the package's feature probe (which may run as soon as it loads) reports no threads, and it
// picks its single-threaded build; the threaded one needs Web Workers, which node does not have.
const messageChannel = globalThis.MessageChannel;
delete globalThis.MessageChannel;

async function main() {
  requireFromInstall('@tensorflow/tfjs-core');
  requireFromInstall('@tensorflow/tfjs-backend-cpu');
  const tflite = requireFromInstall('@tensorflow/tfjs-tflite');
  const features = await tflite.getWasmFeatures();
  if (features.multiThreading) throw new Error('the threaded WASM build was selected; it cannot run in node');
  if (messageChannel) globalThis.MessageChannel = messageChannel;
  tflite.setWasmPath(wasmDir);

  const bytes = fs.readFileSync(modelPath);
  const t0 = process.hrtime.bigint();
  const model = await tflite.loadTFLiteModel(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), { numThreads: 1 });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const runner = model.modelRunner;

  const inputs = runner.getInputs();
  inputs.forEach((t, i) => {
    const buf = t.data();
    buf.fill(buf instanceof BigInt64Array ? 0n : 0);
    if (i === 0 && inputPath) {
      const raw = fs.readFileSync(inputPath);
      if (raw.length !== buf.length || buf.BYTES_PER_ELEMENT !== 1) throw new Error(`input 0 takes ${buf.length} elements of ${buf.BYTES_PER_ELEMENT} bytes; ${inputPath} has ${raw.length} bytes`);
      new Uint8Array(buf.buffer, buf.byteOffset, buf.length).set(raw);
    }
  });

  for (let i = 0; i < warmup; i++) if (!runner.infer()) throw new Error('Invoke failed');
  // Wall time of each invocation, and the process's CPU time over it (user + system): on a shared machine the wall
  // figure includes time the process was waiting for a core, the CPU figure does not.
  const times = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const s = process.hrtime.bigint();
    if (!runner.infer()) throw new Error('Invoke failed');
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1e3);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(JSON.stringify({ simd: features.simd, load_ms: loadMs, warmup, runs_ms: times, cpu_ms: cpu,
    median_ms: median(times), min_ms: Math.min(...times), median_cpu_ms: median(cpu) }));
}

main().catch((e) => { console.error('error:', e && e.stack ? e.stack : e); process.exit(1); });
