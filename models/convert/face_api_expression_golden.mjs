// face-api's own expression net (tfjs, CPU backend) on the committed crops: the reference for the ONNX model.
//
// Reads tests/data/emotion/face-api/golden.json (the crops, written by
// `face_api_expression_to_onnx.py crops`), runs @vladmandic/face-api 1.7.15's
// FaceExpressionNet with its own weights (model/face_expression_model.bin, decoded
// by tfjs's io.decodeWeights and loaded by the net's loadFromWeightMap) on each
// 112x112 RGB PNG, and writes each crop's 7 softmax scores (face-api's order:
// neutral, happy, sad, angry, fearful, disgusted, surprised) back into that file.
//
// Pure JavaScript: @tensorflow/tfjs 4.22.0 on its "cpu" backend, no native build.
// face-api's build for node without tfjs-node (dist/face-api.node-wasm.js, CommonJS)
// requires the wasm backend too, so it is installed but not used. (tfjs's ES module
// build does not load in node: its imports lack file extensions.) From the repository root:
//
//   cd /tmp/faceapi && npm install @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 \
//       @tensorflow/tfjs-backend-wasm@4.22.0 pngjs@7.0.0
//   NODE_PATH=/tmp/faceapi/node_modules node models/convert/face_api_expression_golden.mjs
//
// CI never runs this: tests/pipeline/test_emotion_face_api.py reads the file it writes.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CROPS = join(ROOT, 'tests', 'data', 'emotion', 'face-api');
const GOLDEN = join(CROPS, 'golden.json');
const LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];

// CommonJS, through a require that honours NODE_PATH (ES module imports ignore it).
const require = createRequire(join(process.cwd(), 'noop.js'));

/** The installed version of an npm package (its package.json), checked against the one pinned here. */
function pinned(name, version) {
  const found = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  if (found !== version) throw new Error(`expected ${name}@${version}, found ${found}`);
  return `${name}@${version}`;
}

/** FaceExpressionNet with the package's weights, loaded as face-api loads them (decodeWeights, loadFromWeightMap). */
function expressionNet(faceapi, tf, modelDir) {
  const manifest = JSON.parse(readFileSync(join(modelDir, 'face_expression_model-weights_manifest.json'), 'utf8'));
  const bytes = readFileSync(join(modelDir, manifest[0].paths[0]));
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const net = new faceapi.FaceExpressionNet();
  net.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));
  return net;
}

/** A committed crop as a (112, 112, 3) float32 RGB tensor, 0..255. */
function cropTensor(tf, PNG, file) {
  const png = PNG.sync.read(readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i += 1) {
    for (let c = 0; c < 3; c += 1) rgb[3 * i + c] = png.data[4 * i + c];
  }
  return tf.tensor3d(rgb, [png.height, png.width, 3], 'float32');
}

async function main() {
  const tf = require('@tensorflow/tfjs');
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const { PNG } = require('pngjs');
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  const net = expressionNet(faceapi, tf, modelDir);
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  for (const entry of golden.crops) {
    const input = cropTensor(tf, PNG, join(CROPS, entry.crop));
    const output = await net.forward(input);
    entry.probs = Array.from(output.dataSync());
    entry.top = LABELS[entry.probs.indexOf(Math.max(...entry.probs))];
    tf.dispose([input, output]);
  }
  golden.labels = LABELS;
  const faceApi = pinned('@vladmandic/face-api', '1.7.15');
  golden.source = `${faceApi} FaceExpressionNet, ${pinned('@tensorflow/tfjs', '4.22.0')} `
    + `backend ${tf.getBackend()}, node ${process.version}`;
  golden.tolerance = 1e-5;
  writeFileSync(GOLDEN, `${JSON.stringify(golden, null, 1)}\n`);
  process.stdout.write(`${golden.crops.length} crops: ${golden.crops.map((e) => `${e.crop} ${e.top}`).join(', ')}\n`);
}

main().catch((err) => { process.stderr.write(`${err.stack}\n`); process.exit(1); });
