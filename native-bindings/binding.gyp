{
  # zcoll's optional N-API addon: numeric kernels (src/elementwise.cc, sign_vote.cc, signum_passes.cc,
  # distances.cc, select_kth.cc, top_k.cc, bgmd_passes.cc behind src/addon.cc), POSIX shared memory (src/shm.cc,
  # src/shm_reserve.cc), futex wait/wake (src/futex.cc) and huge-page advice (src/huge_pages.cc).
  # Flags: -O3 with portable code generation only. No -march: the AVX2 variants are chosen at run
  # time (target_clones / CPUID), so the binary runs on any x86-64 CPU. -ffp-contract=off forbids
  # fused multiply-add so float results stay identical to the JS kernels.
  "targets": [
    {
      "target_name": "zcoll_native",
      "sources": [
        "src/addon.cc",
        "src/elementwise.cc",
        "src/sign_vote.cc",
        "src/signum_passes.cc",
        "src/distances.cc",
        "src/select_kth.cc",
        "src/top_k.cc",
        "src/bgmd_passes.cc",
        "src/shm.cc",
        "src/shm_reserve.cc",
        "src/futex.cc",
        "src/huge_pages.cc"
      ],
      # node-addon-api's headers directly (not its gyp target, whose generated makefiles would land
      # in native-bindings/node_modules/), with its no-exceptions mode.
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      # ZCOLL_NATIVE_BASELINE=1 in the environment builds the baseline code paths only (no AVX2
      # clones, SSE2 signPack): test/kernels/baseline.test.ts checks them on an AVX2 machine.
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
        "<!@(node -p \"process.env.ZCOLL_NATIVE_BASELINE === '1' ? 'ZCOLL_NO_CLONES ZCOLL_NO_AVX2' : ''\")"
      ],
      "cflags!": [ "-O2", "-fexceptions" ],
      "cflags_cc!": [ "-O2", "-fexceptions" ],
      "cflags": [ "-O3", "-ffp-contract=off", "-fno-exceptions" ],
      "cflags_cc": [ "-O3", "-ffp-contract=off", "-fno-exceptions", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "conditions": [
        [ "OS=='linux'", { "libraries": [ "-lrt" ] } ],
        [ "OS=='mac'", {
          "xcode_settings": {
            "GCC_OPTIMIZATION_LEVEL": "3",
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "OTHER_CPLUSPLUSFLAGS": [ "-ffp-contract=off", "-std=c++17" ]
          }
        } ],
        [ "OS=='win'", {
          "msvs_settings": { "VCCLCompilerTool": { "Optimization": 2, "FloatingPointModel": 0, "ExceptionHandling": 0 } }
        } ]
      ]
    }
  ]
}
