//! Image archives: `docker save`/`docker load` tarballs, OCI layout tarballs, `import`.
