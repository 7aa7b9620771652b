// Vite build of the web editor into dist/, which the quire binary embeds (server/src/web_assets.rs).
// `npm run dev` serves it with hot reload and forwards the API and WebSockets to a quire on
// 127.0.0.1:8080 (scripts/run.sh), or to QUIRE_URL.
import { defineConfig } from 'vite'

const quireUrl = process.env.QUIRE_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed names under /assets/ are what the server marks immutable.
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false
  },
  server: {
    proxy: {
      '/api': quireUrl,
      '/ws': { target: quireUrl, ws: true }
    }
  }
})
