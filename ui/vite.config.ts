import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";

// `npm run build` writes dist/: index.html plus assets/<name>-<hash>.js|css, which
// `wharf serve` caches for a year (the hash changes with the content).
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0, // no data: URLs; every asset is a file of its own
    modulePreload: { polyfill: false }, // nothing inline: the CSP allows script from 'self' only
    sourcemap: false,
  },
  server: {
    // `npm run dev` proxies the API to a `wharf serve` on :5000
    proxy: {
      "/api": "http://127.0.0.1:5000",
      "/c": "http://127.0.0.1:5000",
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    setupFiles: ["src/test-setup.ts"],
  },
});
