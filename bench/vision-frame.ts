/** The vision bench's camera-like frame: 640x480, gradients, a bright part, noise, JPEG quality 85. */
import { jpegOf } from '../test/helpers/images';
import { seededRandom } from '../test/helpers/onnx-models';

export function benchFrame(): Uint8Array {
  const rnd = seededRandom(7);
  return jpegOf(
    640,
    480,
    (x, y) => {
      const d = Math.hypot(x - 320, y - 240) < 150 ? 120 : 0;
      const n = rnd() * 12;
      return [Math.min(255, Math.max(0, (x >> 2) + d + n)), Math.min(255, Math.max(0, (y >> 2) + d + n)), Math.min(255, Math.max(0, 80 + d + n))];
    },
    85,
  );
}
