import { createRng } from '@bag-of-tricks/core';
import { describe, expect, it } from 'vitest';
import { centerCropBox, resizeShorterCenterCropBox, resizeShorterSize, roundHalfEven, sampleRandomResizedCrop } from '../src/index';
import reference from './fixtures/torchvision-reference.json';
import { scriptedRng } from './scripted-rng';

describe('sampleRandomResizedCrop', () => {
  it('matches torchvision RandomResizedCrop.get_params draw for draw (300 scripted cases, 62 fallbacks)', () => {
    expect(reference.rrc).toHaveLength(300);
    for (const c of reference.rrc) {
      const rng = scriptedRng({ fractions: c.fractions });
      const box = sampleRandomResizedCrop(rng, c.height, c.width, {
        scale: c.scale as [number, number],
        ratio: c.ratio as [number, number],
      });
      expect([box.y, box.x, box.height, box.width], JSON.stringify(c)).toEqual(c.box);
      expect(rng.used()).toBe(c.fractions.length);
    }
  });

  it('falls back to a centre crop with the ratio clamped (hand-worked)', () => {
    // 10x100 (ratio 10) can never hold a crop of area >= 0.9 with ratio <= 4/3:
    // fallback h = 10, w = round(10 * 4/3) = 13, x = (100 - 13) // 2 = 43.
    const rng = scriptedRng({ fractions: Array.from({ length: 20 }, () => 0.5) });
    expect(sampleRandomResizedCrop(rng, 10, 100, { scale: [0.9, 1] })).toEqual({ y: 0, x: 43, height: 10, width: 13 });
    // A square image falls back to the whole image.
    const rng2 = scriptedRng({ fractions: [] });
    expect(sampleRandomResizedCrop(rng2, 5, 5, { attempts: 0 })).toEqual({ y: 0, x: 0, height: 5, width: 5 });
  });

  it('over 10,000 draws on 224x224: boxes inside the image, ratios and areas in bounds and distributed as specified', () => {
    const rng = createRng(42);
    const H = 224;
    const W = 224;
    const n = 10_000;
    const logRatios: number[] = [];
    const areas: number[] = [];
    for (let k = 0; k < n; k++) {
      const b = sampleRandomResizedCrop(rng, H, W);
      expect(b.y >= 0 && b.x >= 0 && b.y + b.height <= H && b.x + b.width <= W).toBe(true);
      const r = b.width / b.height;
      // Integer rounding of sides moves the ratio by at most ~1/h relative; h >= ~55 here.
      expect(r).toBeGreaterThanOrEqual((3 / 4) * 0.98);
      expect(r).toBeLessThanOrEqual((4 / 3) * 1.02);
      const a = (b.width * b.height) / (H * W);
      expect(a).toBeGreaterThanOrEqual(0.08 * 0.97);
      expect(a).toBeLessThanOrEqual(1);
      logRatios.push(Math.log(r));
      areas.push(a);
    }
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    // What is true after rejection: a try (s, r) fits a square image iff s <= min(r, 1/r) (sides
    // rounded aside), and a rejected try redraws both. So accepted draws follow the proposal
    // conditioned on acceptance: density of t = log r  ∝ e^{-|t|} - 0.08 on [-L, L] (symmetric, so
    // mean 0, slightly peaked), density of s ∝ 1 on [0.08, 0.75] and ∝ -ln(s) / L on (0.75, 1].
    const L = Math.log(4 / 3);
    const integrate = (f: (x: number) => number, a: number, b: number, steps = 20_000) => {
      let acc = 0;
      const h = (b - a) / steps;
      for (let k = 0; k < steps; k++) acc += f(a + (k + 0.5) * h) * h;
      return acc;
    };
    const tDensity = (t: number) => Math.exp(-Math.abs(t)) - 0.08;
    const tZ = integrate(tDensity, -L, L);
    const lm = mean(logRatios);
    expect(Math.abs(lm)).toBeLessThan(0.003); // 4 sigma: sqrt(0.027 / 1e4) = 0.0016
    const lv = mean(logRatios.map((v) => (v - lm) ** 2));
    expect(lv).toBeCloseTo(integrate((t) => t * t * tDensity(t), -L, L) / tZ, 3);
    // Close to the unconditioned L^2 / 3 = 0.02759: rejection changes the ratio law only a little.
    expect(lv).toBeCloseTo((L * L) / 3, 2);
    const bins = new Array(10).fill(0);
    for (const v of logRatios) bins[Math.min(9, Math.max(0, Math.floor(((v + L) / (2 * L)) * 10)))]++;
    bins.forEach((c, k) => {
      const p = integrate(tDensity, -L + (k * 2 * L) / 10, -L + ((k + 1) * 2 * L) / 10) / tZ;
      expect(Math.abs(c / n - p), `ratio bin ${k}`).toBeLessThan(0.012); // ~4 sigma of a binomial(1e4, 0.1)
      expect(Math.abs(p - 0.1)).toBeLessThan(0.015); // and roughly uniform (edge bins ~0.088, centre ~0.11)
    });
    const sDensity = (s: number) => (s <= 0.75 ? 1 : -Math.log(s) / L);
    const sZ = integrate(sDensity, 0.08, 1);
    const below = (t: number) => areas.filter((a) => a < t).length / n;
    // Uniform below 0.75: equal-width bins hold equal mass.
    for (let k = 0; k < 6; k++) {
      const lo = 0.08 + k * 0.1;
      expect(Math.abs(below(lo + 0.1) - below(lo) - 0.1 / sZ), `area bin ${lo}`).toBeLessThan(0.015);
    }
    expect(below(0.5)).toBeCloseTo(integrate(sDensity, 0.08, 0.5) / sZ, 2); // 0.532
    expect(1 - below(0.75)).toBeCloseTo(integrate(sDensity, 0.75, 1) / sZ, 2); // 0.151, not 0.27
    expect(mean(areas)).toBeCloseTo(integrate((s) => s * sDensity(s), 0.08, 1) / sZ, 2); // 0.478
  });

  it('is reproducible: same seed, same boxes', () => {
    const a = createRng(3);
    const b = createRng(3);
    for (let k = 0; k < 100; k++) expect(sampleRandomResizedCrop(a, 375, 500)).toEqual(sampleRandomResizedCrop(b, 375, 500));
  });

  it('refuses bad sizes and ranges', () => {
    expect(() => sampleRandomResizedCrop(createRng(1), 0, 10)).toThrow(/positive integers/);
    expect(() => sampleRandomResizedCrop(createRng(1), 10, 10, { scale: [0.5, 0.1] })).toThrow(/scale/);
    expect(() => sampleRandomResizedCrop(createRng(1), 10, 10, { ratio: [0, 1] })).toThrow(/ratio/);
  });
});

describe('eval boxes', () => {
  it('roundHalfEven is Python round', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 0, 2, 3]);
  });

  it('centerCropBox rounds offsets like torchvision CenterCrop', () => {
    // round((256 - 224) / 2) = 16; round((257 - 224) / 2) = round(16.5) = 16 (half to even).
    expect(centerCropBox(256, 257, 224)).toEqual({ y: 16, x: 16, height: 224, width: 224 });
    expect(() => centerCropBox(10, 10, 11)).toThrow(/larger than the image/);
  });

  it('resizeShorterSize is torchvision Resize(int)', () => {
    expect(resizeShorterSize(375, 500, 256)).toEqual({ height: 256, width: 341 }); // int(256 * 500 / 375) = 341
    expect(resizeShorterSize(500, 375, 256)).toEqual({ height: 341, width: 256 });
  });

  it('resizeShorterCenterCropBox is the 0.875 centre view in source pixels', () => {
    // 375x500: side = round(224 * 375 / 256) = round(328.125) = 328; y = round(47 / 2) = 24 (23.5 -> 24), x = 86.
    expect(resizeShorterCenterCropBox(375, 500)).toEqual({ y: 24, x: 86, height: 328, width: 328 });
    expect(resizeShorterCenterCropBox(32, 32, { resize: 32, crop: 28 })).toEqual({ y: 2, x: 2, height: 28, width: 28 });
    expect(resizeShorterCenterCropBox(256, 256)).toEqual({ y: 16, x: 16, height: 224, width: 224 });
    expect(() => resizeShorterCenterCropBox(10, 10, { resize: 8, crop: 9 })).toThrow(/crop <= resize/);
  });
});
