// FFTW 3, single precision (fftwf_*), for FFT lengths FFmpeg's av_tx handles slowly.
#pragma once
#include <fftw3.h>
