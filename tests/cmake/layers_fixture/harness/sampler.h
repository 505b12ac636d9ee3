#pragma once
int sample();
