# One image for every Tidemark process; the command picks the role:
#   tidemark capture | journal | restore | up
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production TIDEMARK_HOST=0.0.0.0 TIDEMARK_PORT=8080
COPY --from=build /app /app
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/packages/cli/dist/main.js"]
CMD ["up"]
