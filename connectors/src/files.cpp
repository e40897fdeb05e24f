#include "flow/files.hpp"

namespace flow {

source_spec<std::string> file_lines(std::string path, std::string name) {
  class fn final : public source_function<std::string> {
  public:
    explicit fn(std::string path) : path_(std::move(path)) {}
    void open(const connector_context&) override {
      in_.open(path_);
      if (!in_)
        throw std::runtime_error("cannot open " + path_ + " for reading");
    }
    source_state poll(emitter<std::string>& out, size_t max_records) override {
      std::string line;
      for (size_t i = 0; i < max_records; ++i) {
        if (stopped_ || !std::getline(in_, line))
          return in_.bad()
                 ? throw std::runtime_error("read of " + path_ + " failed"),
                 source_state::done : source_state::done;
        out.emit(std::move(line));
      }
      return source_state::more;
    }
    void request_stop() override { stopped_ = true; }

  private:
    std::string path_;
    std::ifstream in_;
    bool stopped_ = false;
  };
  source_spec<std::string> spec;
  spec.name = std::move(name);
  spec.parallelism = 1;
  spec.make = [path](const connector_context&) {
    return std::make_unique<fn>(path);
  };
  return spec;
}

} // namespace flow
