"""Edge export of fD: quantised TFLite flatbuffers that LiteRT and TFLite Micro run.

fD is the only network on the camera, so it is the only one exported: per frame,
batch 1, builtin ops only (TFLite Micro has no Flex ops and no CONV_3D). See
``export.py`` for what ``ppvr-export`` writes.
"""
