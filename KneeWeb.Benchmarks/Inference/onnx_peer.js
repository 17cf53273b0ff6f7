// The node side of `peer onnx`: the same model and input through onnxruntime-node.
// usage: node onnx_peer.js <model.onnx> <input.f32> <shape,comma,separated> <intraOpThreads> <runs>
// Prints one JSON line: run times in ms (after one warm-up run) and the output's sum.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputPath, shapeText, threadsText, runsText] = process.argv.slice(2);
  const shape = shapeText.split(',').map(Number);
  const bytes = fs.readFileSync(inputPath);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threadsText),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  const outputName = session.outputNames[0];
  await session.run(feeds); // warm-up, as on the KneeWeb side
  const times = [];
  let sum = 0;
  for (let r = 0; r < Number(runsText); r++) {
    const start = process.hrtime.bigint();
    const result = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    sum = 0;
    const out = result[outputName].data;
    for (let i = 0; i < out.length; i++) sum += out[i];
  }
  console.log(JSON.stringify({ version: ort.env.versions ? ort.env.versions.common : '', times, sum }));
}

main().catch((e) => { console.error(e); process.exit(1); });
