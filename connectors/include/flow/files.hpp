#pragma once

#include "flow/connector.hpp"
#include "flow/text.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>

namespace flow {

/// Reads a text file line by line (one subtask). Fails the job if the file
/// cannot be opened.
source_spec<std::string> file_lines(std::string path,
                                    std::string name = "file");

/// Writes one line per record to `path` (one subtask; the file is
/// truncated at start and flushed at end of input).
template <class T>
sink_spec<T> file_sink(std::string path, std::string name = "file-sink") {
  class fn final : public sink_function<T> {
  public:
    explicit fn(std::string path) : path_(std::move(path)) {}
    void open(const connector_context&) override {
      out_.open(path_, std::ios::trunc);
      if (!out_)
        throw std::runtime_error("cannot open " + path_ + " for writing");
    }
    void write(std::vector<T>& records) override {
      for (auto& x : records)
        out_ << to_text(x) << '\n';
      if (!out_) throw std::runtime_error("write to " + path_ + " failed");
    }
    void finish() override {
      out_.flush();
      if (!out_) throw std::runtime_error("flush of " + path_ + " failed");
    }

  private:
    std::string path_;
    std::ofstream out_;
  };
  sink_spec<T> spec;
  spec.name = std::move(name);
  spec.parallelism = 1;
  spec.make = [path](const connector_context&) {
    return std::make_unique<fn>(path);
  };
  return spec;
}

/// Prints one line per record to stdout, at most `limit` lines in all
/// (the rest are counted, not printed).
template <class T>
sink_spec<T> print(std::string prefix = "", uint64_t limit = UINT64_MAX,
                   std::string name = "stdout") {
  struct shared {
    std::mutex mtx;
    uint64_t printed = 0;
  };
  class fn final : public sink_function<T> {
  public:
    fn(std::string prefix, uint64_t limit, std::shared_ptr<shared> s)
        : prefix_(std::move(prefix)), limit_(limit), shared_(std::move(s)) {}
    void write(std::vector<T>& records) override {
      std::lock_guard<std::mutex> guard{shared_->mtx};
      for (auto& x : records) {
        if (shared_->printed >= limit_) return;
        ++shared_->printed;
        std::cout << prefix_ << to_text(x) << '\n';
      }
    }
    void finish() override { std::cout.flush(); }

  private:
    std::string prefix_;
    uint64_t limit_;
    std::shared_ptr<shared> shared_;
  };
  auto s = std::make_shared<shared>();
  sink_spec<T> spec;
  spec.name = std::move(name);
  spec.make = [prefix, limit, s](const connector_context&) {
    return std::make_unique<fn>(prefix, limit, s);
  };
  return spec;
}

} // namespace flow
