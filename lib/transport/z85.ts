/**
 * Z85 (ZeroMQ RFC 32): the text form of CURVE keys, 5 characters per 4 bytes. zeromq.js hands out
 * keys as Z85 strings but exports no codec, and zcoll needs one to validate keys in the config, to
 * derive a public key from a secret key and to read the 32-byte client key of a ZAP request.
 * Cost: O(bytes). Follows https://rfc.zeromq.org/spec/32/.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/** Length of a CURVE key in Z85 (32 bytes). */
export const Z85_KEY_LENGTH = 40;

export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError(`z85: ${bytes.length} bytes is not a multiple of 4`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3];
    let chunk = '';
    for (let j = 0; j < 5; j++) {
      chunk = ALPHABET[v % 85] + chunk;
      v = Math.floor(v / 85);
    }
    out += chunk;
  }
  return out;
}

/** Decodes Z85, or returns undefined when `text` is not Z85 (wrong length, foreign character, overflow). */
export function z85Decode(text: string): Buffer | undefined {
  if (text.length % 5 !== 0) return undefined;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const c = text.charCodeAt(i + j);
      const d = c < 128 ? VALUE[c] : -1;
      if (d < 0) return undefined;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return undefined;
    out.writeUInt32BE(v, o);
  }
  return out;
}

/** True when `x` is a Z85 CURVE key (40 characters that decode to 32 bytes). */
export function isCurveKey(x: unknown): x is string {
  return typeof x === 'string' && x.length === Z85_KEY_LENGTH && z85Decode(x) !== undefined;
}
